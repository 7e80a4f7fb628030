// "Offline storage is full": the service worker could not save something for offline use (it posts
// {type: "STORAGE_FULL", url}, url null for its install; service_worker/sw.js). The app still works online,
// so this is advice, not an error: one line, replaced by the next such message rather than piling up.
import { toast } from "./toast.js";

let shown = null;

/** What was not saved, in the user's words: the app, the model list, or one model. */
function describe(url) {
  if (!url) return "the app";
  const { pathname } = new URL(url);
  if (pathname === "/api/models") return "the model list";
  const model = /^\/models\/([^/]+)\//.exec(pathname);
  return model ? `model ${decodeURIComponent(model[1])}` : pathname;
}

export function storageFullMessage(url) {
  return (
    `Offline storage is full: ${describe(url)} was not saved for offline use; ` +
    "free space in the browser's site settings, then reload. The app keeps working online."
  );
}

export function watchStorage() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", ({ data }) => {
    if (!data || data.type !== "STORAGE_FULL") return;
    if (shown) shown.remove();
    shown = toast(storageFullMessage(data.url), { timeout: 0 });
    shown.dataset.kind = "storage-full";
  });
  // Messages wait in a queue until the page has loaded or this is called: an install can fail sooner.
  navigator.serviceWorker.startMessages();
}
