"use strict";
// The access token lives in this variable only: never in storage, never in a cookie.
// The refresh token is an HttpOnly cookie this script cannot read.
let access = null;
let accessAt = 0;
let refreshes = 0;
const $ = (id) => document.getElementById(id);
const show = (value) => { $("out").textContent = JSON.stringify(value, null, 2); };

const channel = new BroadcastChannel("tok-session");
// Tabs share a fresh access token (so one refresh serves them all), and a logout: a tab told that its browser logged out
// forgets its token and says so at once.
channel.onmessage = (event) => {
  if (event.data.logout) {
    loggedOut();
  } else if (event.data.at > accessAt) {
    access = event.data.access;
    accessAt = event.data.at;
  }
};
function loggedOut() {
  access = null;
  accessAt = Date.now();
  $("devices").replaceChildren();
  $("status").textContent = "logged out";
}
function announceLogout() {
  loggedOut();
  channel.postMessage({ logout: true });
}
function setAccess(token) {
  access = token;
  accessAt = Date.now();
  channel.postMessage({ access, at: accessAt });
}

// One refresh at a time across this browser's tabs (Web Locks); a tab that waited for
// the lock while another refreshed takes that tab's token instead of refreshing again.
async function refresh() {
  const asked = Date.now();
  return navigator.locks.request("tok-refresh", async () => {
    if (access && accessAt > asked) return true;
    const response = await fetch("/session/refresh", { method: "POST", credentials: "same-origin" });
    if (!response.ok) {
      access = null;
      return false;
    }
    refreshes += 1;
    $("refreshes").textContent = String(refreshes);
    setAccess((await response.json()).access_token);
    return true;
  });
}

// A call with the access token; on 401 `expired` (or no token yet) it refreshes once
// and retries.
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
      const body = await response.clone().json().catch(() => ({}));
      if ((body.error === "expired" || body.error === "no-credentials") && (await refresh())) continue;
    }
    return response;
  }
}

// The sessions of this user, this one marked; every other one has an "End" button.
async function devices() {
  const list = $("devices");
  list.replaceChildren();
  if (!access) return;
  const response = await api("GET", "/session/sessions");
  if (!response.ok) return;
  const { sessions } = await response.json();
  const when = (t) => new Date(t * 1000).toLocaleString();
  for (const s of sessions) {
    const item = document.createElement("li");
    item.dataset.id = s.id;
    const device = document.createElement("span");
    device.className = "device";
    device.textContent = s.label || "an unnamed device";
    item.append(device, ` signed in ${when(s.created_at)}, last active ${when(s.last_used_at)} `);
    if (s.current) {
      item.append("(this device)");
      item.className = "current";
    } else {
      const end = document.createElement("button");
      end.type = "button";
      end.textContent = "End";
      end.className = "end";
      end.addEventListener("click", async () => {
        const ended = await api("POST", "/session/end", { id: s.id });
        const body = await ended.json().catch(() => ({}));
        if (ended.ok && body.access_token) setAccess(body.access_token);
        await devices();
      });
      item.append(end);
    }
    list.append(item);
  }
}

async function whoami() {
  const response = await api("GET", "/api/me");
  const body = await response.json().catch(() => ({}));
  show(body);
  $("status").textContent = response.ok ? `logged in as ${body.sub} (${body.role})` : "logged out";
  if (response.ok) {
    await devices();
  } else {
    $("devices").replaceChildren();
  }
  return response.ok;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  const body = await response.json();
  if (!response.ok) {
    show(body);
    $("status").textContent = "logged out";
    return;
  }
  setAccess(body.access_token);
  await whoami();
});
$("whoami").addEventListener("click", whoami);
$("promote").addEventListener("click", async () => {
  const response = await api("POST", "/api/promote");
  if (response.ok) setAccess((await response.json()).access_token);
  await whoami();
});
// A logout that failed must say so: the session is still alive.
$("logout").addEventListener("click", async () => {
  const response = await fetch("/session/logout", { method: "POST", credentials: "same-origin" });
  if (!response.ok) {
    show(await response.json().catch(() => ({ error: response.status })));
    $("status").textContent = "logout failed: still logged in";
    return;
  }
  show({});
  announceLogout();
});
$("logout-all").addEventListener("click", async () => {
  const response = await api("POST", "/session/logout-all");
  show(await response.json().catch(() => ({})));
  if (!response.ok) {
    $("status").textContent = "logout failed: still logged in";
    return;
  }
  announceLogout();
});

// A session that survived a reload comes back through its refresh cookie.
refresh().then((ok) => (ok ? whoami() : ($("status").textContent = "logged out")));
