// The offline indicator: navigator.onLine plus failed fetches (a "connected" network that answers nothing).
import { $ } from "./dom.js";

let failed = false;

function render() {
  const offline = !navigator.onLine || failed;
  $("#offline-badge").hidden = !offline;
  document.documentElement.classList.toggle("is-offline", offline);
}

export function watchNetwork() {
  window.addEventListener("online", () => {
    failed = false;
    render();
  });
  window.addEventListener("offline", render);
  render();
}

/** Called by the page after its own requests: a TypeError from fetch means the network is gone. */
export function noteFetch(ok) {
  if (failed === !ok) return;
  failed = !ok;
  render();
}

export function isOffline() {
  return !navigator.onLine || failed;
}
