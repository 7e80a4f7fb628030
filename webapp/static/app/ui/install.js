// The "Install" button: shown only when the browser offers to install the app (`beforeinstallprompt`,
// Chromium browsers on a secure page with the manifest and service worker), hidden again once it is
// installed or the offer is used. Browsers without the event (Safari: Share > Add to Home Screen) never
// show it.
import { $ } from "./dom.js";

export function watchInstall() {
  const button = $("#install-button");
  let offer = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // no mini-infobar: the button is the offer
    offer = event;
    button.hidden = false;
  });
  button.addEventListener("click", async () => {
    if (!offer) return;
    const current = offer;
    offer = null; // an offer can be used once
    button.hidden = true;
    await current.prompt();
    const choice = await current.userChoice;
    button.dataset.outcome = choice ? choice.outcome : "";
  });
  window.addEventListener("appinstalled", () => {
    offer = null;
    button.hidden = true;
  });
}
