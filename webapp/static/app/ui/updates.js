// Service worker registration and "Update available": a new version waits until the user accepts, then
// it takes over (SKIP_WAITING) and the page reloads once the new worker controls it.
import { $ } from "./dom.js";

let registration = null;

function showBanner(worker) {
  const banner = $("#update-banner");
  banner.hidden = false;
  $("#update-accept").onclick = () => {
    sessionStorage.setItem("edgeship.updating", "1");
    $("#update-accept").disabled = true;
    worker.postMessage({ type: "SKIP_WAITING" });
  };
  $("#update-dismiss").onclick = () => {
    banner.hidden = true;
  };
}

function watchInstalling(worker) {
  worker.addEventListener("statechange", () => {
    if (worker.state === "installed" && navigator.serviceWorker.controller) showBanner(worker);
  });
}

export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install claims the page: nothing to reload. A later change happens only when the user
    // accepted an update.
    if (sessionStorage.getItem("edgeship.updating")) {
      sessionStorage.removeItem("edgeship.updating");
      window.location.reload();
    }
  });
  registration = await navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" });
  if (registration.waiting && navigator.serviceWorker.controller) showBanner(registration.waiting);
  if (registration.installing) watchInstalling(registration.installing);
  registration.addEventListener("updatefound", () => watchInstalling(registration.installing));
  const check = () => registration.update().catch(() => {});
  window.addEventListener("online", check);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") check();
  });
  setInterval(check, 5 * 60 * 1000);
  return registration;
}

/** Asks the browser to fetch /sw.js now (the tests use it; the app also checks on focus and every 5 min). */
export async function checkForUpdate() {
  if (!registration) return false;
  await registration.update();
  return true;
}

/** Resolves once a service worker controls this page. */
export function controlled() {
  if (!("serviceWorker" in navigator)) return Promise.resolve(false);
  if (navigator.serviceWorker.controller) return Promise.resolve(true);
  return new Promise((resolve) =>
    navigator.serviceWorker.addEventListener("controllerchange", () => resolve(true), { once: true }),
  );
}
