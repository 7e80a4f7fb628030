// The one place errors reach the user. A cancelled job (AbortError) is not an error.
import { $, h } from "./dom.js";

const TIMEOUT_MS = 6000;

export function toast(message, { kind = "info", timeout = TIMEOUT_MS } = {}) {
  const item = h(
    "div",
    { className: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    message,
  );
  const close = h("button", { className: "link", type: "button", ariaLabel: "Dismiss" }, "×");
  close.addEventListener("click", () => item.remove());
  item.append(close);
  $("#toasts").append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

export function reportError(error, context = "") {
  if (error && error.name === "AbortError") return;
  console.error(error);
  const message = (error && error.message) || String(error);
  toast(context ? `${context}: ${message}` : message, { kind: "error", timeout: 0 });
}
