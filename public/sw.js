// askfirst's service worker: makes the inbox installable and keeps the static shell (styles,
// the WebAssembly bundle and its loader, icons) for a fast start. It caches nothing else:
// never a page (pages carry data and need a session), never a server function or API
// answer, never anything but GET. Decisions always go to the server.
const CACHE = "askfirst-shell-v1";
const SHELL = [
  "/pkg/askfirst.css",
  "/pkg/askfirst.js",
  "/pkg/askfirst_bg.wasm",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/favicon.svg",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.all(SHELL.map((url) => cache.add(url).catch(() => undefined))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// Network first for the shell (a new build is picked up at once), the cached copy when the
// network fails. Everything else is left to the browser untouched.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() => caches.match(request).then((hit) => hit || Response.error())),
  );
});
