//! The example app in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini). scripts/setup.sh installs both; without them these
//! tests fail rather than skip.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::web::App;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver process on a port of its own choosing, logging to a file.
struct Driver {
    child: Child,
    url: String,
    log: tempfile::NamedTempFile,
}

impl Driver {
    /// Starts chromedriver with `--port=0`, so it binds a free port itself and names it:
    /// a port picked here and handed over could be taken by another test in between, and
    /// the session request would then go to whatever holds it.
    fn start() -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .arg(format!("--log-path={}", log.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (scripts/setup.sh installs chromium-driver)");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        // Reads the port from "ChromeDriver was started successfully on port N.", then
        // keeps draining stdout so chromedriver never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = port_tx.send(rest.trim_end_matches('.').trim().to_owned());
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("chromedriver did not say its port");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// A new browser (its own profile, so its own cookie jar). Starting Chromium is
    /// the test's scaffolding, not what it tests, and on a loaded 2-core machine it can
    /// fail: it is tried three times, and a last failure shows chromedriver's log.
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            // This machine's network is closed: no background connections.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let mut errors = Vec::new();
        for _ in 0..3 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(e) => errors.push(format!("{e:?}")),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!("no Chromium session: {errors:#?}\nthe end of chromedriver's log:\n{tail}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clicks element `id`.
async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

/// Waits until element `id`'s text satisfies `ok`; returns it.
async fn wait_text(c: &Client, id: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let t = text(c, id).await;
        if ok(&t) {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "#{id} stayed {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replaces what field `id` holds with `value`, as typed.
async fn fill(c: &Client, id: &str, value: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Opens the app in a second tab of the browser, where `user` is logged in already, and
/// stays there; returns the first tab's handle and the second's.
async fn second_tab(
    c: &Client,
    base: &str,
    user: &str,
) -> (fantoccini::wd::WindowHandle, fantoccini::wd::WindowHandle) {
    let first = c.window().await.unwrap();
    let second = c.new_window(true).await.unwrap().handle;
    c.switch_to_window(second.clone()).await.unwrap();
    c.goto(base).await.unwrap();
    wait_text(c, "status", |t| {
        t.starts_with(&format!("logged in as {user}"))
    })
    .await;
    (first, second)
}

async fn log_in(c: &Client, base: &str, user: &str) {
    c.goto(base).await.unwrap();
    wait_text(c, "status", |t| t == "logged out").await;
    fill(c, "username", user).await;
    fill(c, "password", "demo").await;
    click(c, "login").await;
    wait_text(c, "status", |t| {
        t.starts_with(&format!("logged in as {user}"))
    })
    .await;
}

async fn refreshes(c: &Client) -> u64 {
    text(c, "refreshes").await.parse().unwrap()
}

/// Log in through the form; the refresh cookie is invisible to scripts and stored
/// hardened; with 2-second access tokens the page keeps working past several expiries by
/// refreshing; "log out everywhere" in one browser ends the session in another at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("web.db").display());
    let app = App::start(&store, &["--access-ttl", "2s"]);
    let driver = Driver::start();
    let one = driver.browser(&dir.path().join("profile-1")).await;
    log_in(&one, &app.url, "alice").await;

    let visible: String = one
        .execute("return document.cookie", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !visible.contains("refresh") && !visible.contains("fingerprint"),
        "{visible:?}"
    );
    let cookies = one.get_all_cookies().await.unwrap();
    let refresh = cookies
        .iter()
        .find(|c| c.name() == "__Host-refresh")
        .expect("the browser stored the refresh cookie");
    assert_eq!(refresh.http_only(), Some(true));
    assert_eq!(refresh.secure(), Some(true));
    assert_eq!(refresh.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(refresh.path(), Some("/"));

    // Past three access-token expiries, "who am I" still works: the page refreshed.
    let before = refreshes(&one).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(2200)).await;
        click(&one, "whoami").await;
        wait_text(&one, "status", |s| s.starts_with("logged in as alice")).await;
        // The click is answered on the page, not only in the unchanged status.
        wait_text(&one, "message", |m| m.starts_with("Your session is valid")).await;
    }
    let after = wait_text(&one, "refreshes", |r| {
        r.parse::<u64>().unwrap() >= before + 3
    })
    .await;
    assert!(after.parse::<u64>().unwrap() >= before + 3);

    // A second browser, the same user; "log out everywhere" in the first ends it.
    let two = driver.browser(&dir.path().join("profile-2")).await;
    log_in(&two, &app.url, "alice").await;
    click(&one, "logout-all").await;
    wait_text(&one, "status", |t| t == "logged out").await;
    click(&two, "whoami").await;
    wait_text(&two, "status", |t| t == "logged out").await;
    // And a reload does not bring it back: the refresh cookie's family is revoked.
    two.goto(&app.url).await.unwrap();
    wait_text(&two, "status", |t| t == "logged out").await;
    one.close().await.unwrap();
    two.close().await.unwrap();
}

/// Two tabs of one browser refresh after an access-token expiry at the same moment: both
/// keep working, and the store holds one family, not revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_refresh_at_the_same_moment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("web.db");
    let app = App::start(&format!("sqlite:{}", db.display()), &["--access-ttl", "2s"]);
    let driver = Driver::start();
    let c = driver.browser(&dir.path().join("profile")).await;
    log_in(&c, &app.url, "alice").await;
    let (first, second) = second_tab(&c, &app.url, "alice").await;

    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(2200)).await;
        // Both tabs click "who am I" at one instant, 300 ms from now.
        let at = json!(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                + 300
        );
        let schedule = "const at = arguments[0]; \
            document.getElementById('status').textContent = 'waiting'; \
            setTimeout(() => document.getElementById('whoami').click(), at - Date.now());";
        for window in [&first, &second] {
            c.switch_to_window(window.clone()).await.unwrap();
            c.execute(schedule, vec![at.clone()]).await.unwrap();
        }
        for window in [&first, &second] {
            c.switch_to_window(window.clone()).await.unwrap();
            let status = wait_text(&c, "status", |t| t != "waiting").await;
            assert!(
                status.starts_with("logged in as alice"),
                "round {round}: {status}"
            );
        }
    }
    c.close().await.unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let (families, revoked): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(revoked_ms) FROM tok_families WHERE subject = 'alice'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((families, revoked), (1, 0), "one family, not revoked");
}

/// Serves, on a port of its own, a page that frames `target` and a harmless page of its
/// own origin (the control: a frame that is allowed to load does load).
fn framing_site(target: &str) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let page = format!(
        "<!doctype html><iframe src=\"{target}/\"></iframe><iframe src=\"/inner\"></iframe>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let inner = String::from_utf8_lossy(&buf[..n]).starts_with("GET /inner");
            let body = if inner {
                "<!doctype html><p id=\"inner\">inner</p>".to_owned()
            } else {
                page.clone()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// A page on another port of the same host (same-site, so `SameSite` cookies would go
/// with it) frames the app to overlay its buttons: the browser refuses to render the
/// app in the frame, while a frame that may load does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_frame_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start("memory:", &[]);
    let framer = framing_site(&app.url);
    let driver = Driver::start();
    let c = driver.browser(&dir.path().join("profile")).await;
    c.goto(&framer).await.unwrap();

    // The control frame loads.
    let start = Instant::now();
    loop {
        c.enter_frame(1).await.unwrap();
        let found = c.find(Locator::Id("inner")).await.is_ok();
        c.enter_parent_frame().await.unwrap();
        if found {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the control frame never loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The app's frame, given as long again, never shows the app's login form.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        c.enter_frame(0).await.unwrap();
        let form = c.find(Locator::Id("username")).await;
        c.enter_parent_frame().await.unwrap();
        assert!(
            form.is_err(),
            "the app rendered inside another site's frame"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.close().await.unwrap();
}

/// Two browsers logged in as one user: the first sees both sessions on its devices list,
/// its own marked, and ends the other's; the other's next request is refused and its page
/// says it is logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_browser_ends_the_other_from_its_devices_list() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start("memory:", &[]);
    let driver = Driver::start();
    let one = driver.browser(&dir.path().join("profile-1")).await;
    let two = driver.browser(&dir.path().join("profile-2")).await;
    log_in(&one, &app.url, "alice").await;
    log_in(&two, &app.url, "alice").await;
    // The first page lists both once it asks again.
    let start = Instant::now();
    let end_button = loop {
        click(&one, "whoami").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let items = one.find_all(Locator::Css("#devices li")).await.unwrap();
        let current = one
            .find_all(Locator::Css("#devices li.current"))
            .await
            .unwrap();
        if items.len() == 2 && current.len() == 1 {
            break one.find(Locator::Css("#devices button.end")).await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "devices list never showed two"
        );
    };
    end_button.click().await.unwrap();
    let start = Instant::now();
    while one
        .find_all(Locator::Css("#devices li"))
        .await
        .unwrap()
        .len()
        != 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the ended device stayed listed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first browser is still logged in; the second learns it is not.
    click(&one, "whoami").await;
    wait_text(&one, "status", |t| t.starts_with("logged in as alice")).await;
    click(&two, "whoami").await;
    wait_text(&two, "status", |t| t == "logged out").await;
    one.close().await.unwrap();
    two.close().await.unwrap();
}

/// Two tabs of one browser: logging out in one reaches the other at once (no click
/// there), and the other tab then holds no access token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_reaches_the_other_tabs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start("memory:", &[]);
    let driver = Driver::start();
    let c = driver.browser(&dir.path().join("profile")).await;
    log_in(&c, &app.url, "alice").await;
    let (first, second) = second_tab(&c, &app.url, "alice").await;
    c.switch_to_window(first).await.unwrap();
    click(&c, "logout").await;
    wait_text(&c, "status", |t| t == "logged out").await;
    c.switch_to_window(second).await.unwrap();
    wait_text(&c, "status", |t| t == "logged out").await;
    let token = c.execute("return access", vec![]).await.unwrap();
    assert!(token.is_null(), "the other tab kept {token}");
    c.close().await.unwrap();
}

/// Whether element `id` is shown.
async fn shown(c: &Client, id: &str) -> bool {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
}

/// Saves what the browser shows as `name`.png: into `docs/` when `TOK_SCREENSHOTS=docs`
/// (README shows those), else into `dir` (so that every run proves they can be taken).
async fn screenshot(c: &Client, dir: &std::path::Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let folder = match std::env::var("TOK_SCREENSHOTS").as_deref() {
        Ok("docs") => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"),
        _ => dir.to_owned(),
    };
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{name}.png")), png).unwrap();
}

/// The page as a person uses it: one view signed out (the form), another signed in (who,
/// role, when access renews, the actions, the devices); every refusal said in words, never
/// as a code or JSON; the form checked before it is sent and cleared after a sign-in; an
/// action that cannot apply disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start("memory:", &[]);
    let driver = Driver::start();
    let c = driver.browser(&dir.path().join("profile")).await;
    c.set_window_size(900, 900).await.unwrap();
    c.goto(&app.url).await.unwrap();
    wait_text(&c, "status", |t| t == "logged out").await;
    assert!(shown(&c, "signed-out").await && !shown(&c, "signed-in").await);
    screenshot(&c, dir.path(), "signed-out").await;

    // A blank name is refused on the page, in words.
    fill(&c, "username", "   ").await;
    fill(&c, "password", "demo").await;
    click(&c, "login").await;
    let said = wait_text(&c, "message", |t| !t.is_empty()).await;
    assert!(said.contains("enter a username"), "{said}");
    // A wrong password: the server's code becomes a sentence.
    fill(&c, "username", "alice").await;
    fill(&c, "password", "nope").await;
    click(&c, "login").await;
    let said = wait_text(&c, "message", |t| t.contains("don't match")).await;
    assert!(
        !said.contains("bad-credentials") && !said.contains('{'),
        "{said}"
    );
    assert_eq!(text(&c, "status").await, "logged out");

    fill(&c, "password", "demo").await;
    click(&c, "login").await;
    wait_text(&c, "status", |t| t == "logged in as alice (user)").await;
    assert!(shown(&c, "signed-in").await && !shown(&c, "signed-out").await);
    let typed = c.execute("return [document.getElementById('username').value, document.getElementById('password').value]", vec![]).await.unwrap();
    assert_eq!(
        typed,
        json!(["", ""]),
        "the form is cleared after a sign-in"
    );
    assert_eq!(text(&c, "who").await, "alice");
    assert!(
        text(&c, "renews").await.contains(':'),
        "a time the access token renews"
    );
    let promote = c.find(Locator::Id("promote")).await.unwrap();
    assert!(promote.is_enabled().await.unwrap());
    wait_text(&c, "devices", |t| t.contains("(this device)")).await;
    screenshot(&c, dir.path(), "signed-in").await;

    // Become admin: said in words, and the button that can no longer apply is disabled.
    click(&c, "promote").await;
    wait_text(&c, "role", |t| t == "admin").await;
    let said = wait_text(&c, "message", |t| t.contains("admin")).await;
    assert!(!said.contains('{'), "{said}");
    let start = Instant::now();
    while promote.is_enabled().await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "promote stays enabled for an admin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    click(&c, "logout").await;
    wait_text(&c, "status", |t| t == "logged out").await;
    let said = wait_text(&c, "message", |t| t.contains("signed out")).await;
    assert!(!said.contains('{'), "{said}");
    assert!(shown(&c, "signed-out").await && !shown(&c, "signed-in").await);
    c.close().await.unwrap();
}

/// Recent login and remember-me in the page: a login with "remember me" unticked leaves
/// session cookies (no expiry) in the browser; past `--recent-login`, changing the
/// password asks for the current one again, and after it the change goes through; the
/// new password is the one that signs in afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_action_asks_for_the_password_again() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start("memory:", &["--recent-login", "2s"]);
    let driver = Driver::start();
    let c = driver.browser(&dir.path().join("profile")).await;
    c.goto(&app.url).await.unwrap();
    wait_text(&c, "status", |t| t == "logged out").await;
    fill(&c, "username", "alice").await;
    fill(&c, "password", "demo").await;
    let remember = c.find(Locator::Id("remember")).await.unwrap();
    assert_eq!(
        remember.prop("checked").await.unwrap().as_deref(),
        Some("true")
    );
    remember.click().await.unwrap();
    click(&c, "login").await;
    wait_text(&c, "status", |t| t.starts_with("logged in as alice")).await;

    // Not remembered: both cookies are session cookies, gone with the browser's session.
    let cookies = c.get_all_cookies().await.unwrap();
    for name in ["__Host-refresh", "__Host-fingerprint"] {
        let cookie = cookies
            .iter()
            .find(|k| k.name() == name)
            .unwrap_or_else(|| panic!("the browser stored {name}"));
        assert_eq!(cookie.expires_datetime(), None, "{cookie}");
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    }

    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert!(!shown(&c, "reauth-form").await);
    fill(&c, "new-password", "hunter22").await;
    click(&c, "change-password").await;
    wait_text(&c, "message", |m| {
        m.starts_with("Please enter your password again")
    })
    .await;
    assert!(shown(&c, "reauth-form").await);
    fill(&c, "reauth-password", "demo").await;
    click(&c, "reauth").await;
    wait_text(&c, "message", |m| m == "Your password is changed.").await;
    assert!(!shown(&c, "reauth-form").await);

    click(&c, "logout").await;
    wait_text(&c, "status", |t| t == "logged out").await;
    fill(&c, "username", "alice").await;
    fill(&c, "password", "hunter22").await;
    click(&c, "login").await;
    wait_text(&c, "status", |t| t.starts_with("logged in as alice")).await;
    c.close().await.unwrap();
}
