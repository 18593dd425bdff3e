"use strict";
// The access token lives in this variable only: never in storage, never in a cookie.
// The refresh token is an HttpOnly cookie this script cannot read.
let access = null;
let accessAt = 0;
let refreshes = 0;
let role = null;
const $ = (id) => document.getElementById(id);

// What each error code the server can answer means to the person using the page.
const MESSAGES = {
  "bad-credentials": "That username and password don't match. The password is demo.",
  "bad-username": "Please enter a username: letters, not only spaces, at most 64 characters.",
  "no-credentials": "You are not signed in.",
  "no-session": "You are not signed in on this device.",
  "expired": "Your sign-in expired. Please sign in again.",
  "revoked": "This session was ended, here or on another device. Please sign in again.",
  "refresh-expired": "Your session ran out. Please sign in again.",
  "refresh-unknown": "This browser's session is not known here any more. Please sign in again.",
  "refresh-reused": "For your safety this session was ended: an old sign-in was used again, " +
    "perhaps by someone else. Please sign in again.",
  "fingerprint-mismatch": "For your safety this session was ended: its cookie was used without " +
    "its partner cookie. Please sign in again.",
  "not-session-holder": "Only a device's own session can do that.",
  "csrf": "The request did not come from this page, so it was refused.",
  "unavailable": "The session store is not answering. Nothing changed; try again in a moment.",
  "invalid_request": "The request was not understood.",
  "insufficient-user-authentication": "Please enter your password again to do that.",
  "bad-password": "A password must have 4 to 128 characters.",
};
const explain = (code, status) =>
  MESSAGES[code] || `Something went wrong (${code || "HTTP " + status}). Please try again.`;

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}
async function sayError(response) {
  const body = await response.clone().json().catch(() => ({}));
  say(explain(body.error, response.status), true);
}

// The two views: signed out (the form) and signed in (the session, its actions, devices).
function showSignedIn(sub, newRole) {
  role = newRole;
  $("status").textContent = `logged in as ${sub} (${newRole})`;
  $("who").textContent = sub;
  $("role").textContent = newRole;
  $("promote").disabled = newRole === "admin";
  $("promote").title = newRole === "admin" ? "You are an admin already" : "";
  $("signed-in").hidden = false;
  $("signed-out").hidden = true;
  showRenewal();
}
function showSignedOut() {
  role = null;
  $("devices").replaceChildren();
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  $("password").value = "";
  $("reauth-form").hidden = true;
  $("status").textContent = "logged out";
}
// When the access token in memory stops being accepted and the page renews it (its own
// token's `exp`: the page reads only what it holds).
function showRenewal() {
  if (!access) return;
  try {
    const payload = access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(payload)).exp;
    $("renews").textContent = new Date(exp * 1000).toLocaleTimeString();
  } catch {
    $("renews").textContent = "–";
  }
}

const channel = new BroadcastChannel("tok-session");
// Tabs share a fresh access token (so one refresh serves them all), and a logout: a tab told that its browser logged out
// forgets its token and says so at once.
channel.onmessage = (event) => {
  if (event.data.logout) {
    loggedOut();
    say("You signed out in another tab.");
  } else if (event.data.at > accessAt) {
    access = event.data.access;
    accessAt = event.data.at;
    showRenewal();
  }
};
function loggedOut() {
  access = null;
  accessAt = Date.now();
  showSignedOut();
}
function announceLogout() {
  loggedOut();
  channel.postMessage({ logout: true });
}
function setAccess(token) {
  access = token;
  accessAt = Date.now();
  channel.postMessage({ access, at: accessAt });
  showRenewal();
}

// One refresh at a time across this browser's tabs (Web Locks); a tab that waited for
// the lock while another refreshed takes that tab's token instead of refreshing again.
// Answers whether the page holds a live access token afterwards, and the refusal's code.
async function refresh() {
  const asked = Date.now();
  return navigator.locks.request("tok-refresh", async () => {
    if (access && accessAt > asked) return { ok: true };
    const response = await fetch("/session/refresh", { method: "POST", credentials: "same-origin" });
    if (!response.ok) {
      access = null;
      const body = await response.json().catch(() => ({}));
      return { ok: false, code: body.error, status: response.status };
    }
    refreshes += 1;
    $("refreshes").textContent = String(refreshes);
    setAccess((await response.json()).access_token);
    return { ok: true };
  });
}

// A call with the access token; on 401 `expired` (or no token yet) it refreshes once
// and retries. A refresh that was refused answers for the call.
async function api(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const headers = access ? { Authorization: "Bearer " + access } : {};
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && attempt === 0) {
      const refusal = await response.clone().json().catch(() => ({}));
      if (refusal.error === "expired" || refusal.error === "no-credentials") {
        const renewed = await refresh();
        if (renewed.ok) continue;
        return new Response(JSON.stringify({ error: renewed.code || refusal.error }), {
          status: renewed.status || 401,
        });
      }
    }
    return response;
  }
}

// A short name for a session's label when it is a browser's User-Agent ("Chrome on
// Linux"); the whole label stays in the tooltip.
function deviceName(label) {
  if (!label) return "An unnamed device";
  const browser = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"]]
    .find(([token]) => label.includes(token));
  const system = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"],
    ["Mac OS X", "macOS"], ["Linux", "Linux"]].find(([token]) => label.includes(token));
  if (!browser) return label;
  return system ? `${browser[1]} on ${system[1]}` : browser[1];
}

// The sessions of this user, this one marked; every other one has an "End" button.
async function devices() {
  const list = $("devices");
  if (!access) {
    list.replaceChildren();
    return;
  }
  const response = await api("GET", "/session/sessions");
  if (!response.ok) return;
  const { sessions } = await response.json();
  const when = (t) => new Date(t * 1000).toLocaleString();
  list.replaceChildren();
  for (const s of sessions) {
    const item = document.createElement("li");
    item.dataset.id = s.id;
    const device = document.createElement("span");
    device.className = "device";
    device.textContent = deviceName(s.label);
    device.title = s.label;
    item.append(device, ` · signed in ${when(s.created_at)}, last active ${when(s.last_used_at)} `);
    if (s.current) {
      item.append("(this device)");
      item.className = "current";
    } else {
      const end = document.createElement("button");
      end.type = "button";
      end.textContent = "End";
      end.className = "end";
      end.title = "Sign this device out";
      end.addEventListener("click", async () => {
        end.disabled = true;
        const ended = await api("POST", "/session/end", { id: s.id });
        const body = await ended.json().catch(() => ({}));
        if (ended.ok && body.access_token) setAccess(body.access_token);
        if (ended.ok) say(body.ended ? "That device is signed out." : "That session had ended already.");
        else await sayError(ended);
        await devices();
      });
      item.append(end);
    }
    list.append(item);
  }
}

// Asks the server who this session is; shows the matching view.
async function whoami() {
  const response = await api("GET", "/api/me");
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    showSignedIn(body.sub, body.role);
    await devices();
  } else {
    if (access !== null || role !== null) say(explain(body.error, response.status), true);
    loggedOut();
  }
  return response.ok;
}

// Buttons that act on the session are disabled while their request runs.
function busy(button, work) {
  return async () => {
    button.disabled = true;
    try {
      await work();
    } finally {
      button.disabled = button.id === "promote" && role === "admin";
    }
  };
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("username");
  const password = $("password");
  const blank = name.value.trim() === "";
  name.setAttribute("aria-invalid", String(blank));
  password.setAttribute("aria-invalid", String(password.value === ""));
  if (blank || password.value === "") {
    say(blank ? MESSAGES["bad-username"] : "Please enter the password (it is demo).", true);
    (blank ? name : password).focus();
    return;
  }
  $("login").disabled = true;
  try {
    const response = await fetch("/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: name.value,
        password: password.value,
        remember: $("remember").checked,
      }),
    });
    if (!response.ok) {
      await sayError(response);
      password.value = "";
      return;
    }
    setAccess((await response.json()).access_token);
    name.value = "";
    password.value = "";
    say("");
    await whoami();
  } finally {
    $("login").disabled = false;
  }
});
// The check's answer is said, so that a click that changes nothing on screen still shows
// it was made.
$("whoami").addEventListener("click", busy($("whoami"), async () => {
  if (await whoami()) {
    say(`Your session is valid: the server checked it at ${new Date().toLocaleTimeString()}.`);
  }
}));
$("promote").addEventListener("click", busy($("promote"), async () => {
  const response = await api("POST", "/api/promote");
  if (!response.ok) {
    await sayError(response);
    return;
  }
  setAccess((await response.json()).access_token);
  say("You are an admin now: your session was renewed with the new role.");
  await whoami();
}));
// Asks for the current password (a sensitive action needs a recent login); answers it,
// or null when the person cancels.
function askPassword() {
  const form = $("reauth-form");
  const input = $("reauth-password");
  form.hidden = false;
  input.value = "";
  input.focus();
  return new Promise((resolve) => {
    const done = (value) => {
      form.hidden = true;
      form.onsubmit = null;
      $("reauth-cancel").onclick = null;
      resolve(value);
    };
    form.onsubmit = (event) => {
      event.preventDefault();
      done(input.value);
    };
    $("reauth-cancel").onclick = () => done(null);
  });
}

// A call to a sensitive route: when the server answers that the login is too old
// (RFC 9470's insufficient_user_authentication), the page asks for the password, proves
// it with POST /reauthenticate (which renews the session), and retries once.
async function sensitive(method, path, body) {
  let response = await api(method, path, body);
  for (let attempt = 0; attempt < 3 && response.status === 401; attempt += 1) {
    const refusal = await response.clone().json().catch(() => ({}));
    if (refusal.error !== "insufficient-user-authentication") return response;
    say(MESSAGES["insufficient-user-authentication"]);
    const password = await askPassword();
    if (password === null) {
      say("Nothing changed.");
      return null;
    }
    const proof = await api("POST", "/reauthenticate", { password });
    if (!proof.ok) {
      await sayError(proof);
      const why = await proof.clone().json().catch(() => ({}));
      if (why.error !== "bad-credentials") return null;
      continue;
    }
    setAccess((await proof.json()).access_token);
    response = await api(method, path, body);
  }
  return response;
}

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("new-password");
  if (input.value.length < 4 || input.value.length > 128) {
    say(MESSAGES["bad-password"], true);
    input.focus();
    return;
  }
  $("change-password").disabled = true;
  try {
    const response = await sensitive("POST", "/api/password", { new_password: input.value });
    if (response === null) return;
    if (!response.ok) {
      await sayError(response);
      return;
    }
    input.value = "";
    say("Your password is changed.");
  } finally {
    $("change-password").disabled = false;
  }
});

// A logout that failed must say so: the session is still alive.
$("logout").addEventListener("click", busy($("logout"), async () => {
  const response = await fetch("/session/logout", { method: "POST", credentials: "same-origin" });
  if (!response.ok) {
    await sayError(response);
    return;
  }
  announceLogout();
  say("You are signed out.");
}));
$("logout-all").addEventListener("click", busy($("logout-all"), async () => {
  const response = await api("POST", "/session/logout-all");
  if (!response.ok) {
    await sayError(response);
    return;
  }
  const body = await response.json().catch(() => ({}));
  announceLogout();
  const n = body.revoked;
  say(typeof n === "number" ? `You are signed out on every device (${n} session${n === 1 ? "" : "s"}).` : "You are signed out on every device.");
}));

// A session that survived a reload comes back through its refresh cookie.
refresh().then((renewed) => (renewed.ok ? whoami() : showSignedOut()));
