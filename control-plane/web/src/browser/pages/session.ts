/** Sign in and sign out. */
import { ApiError, api, flash, forgetToken, h, render } from "../client.js";
import { field } from "./ui.js";

export async function loginPage(): Promise<void> {
  document.title = "Sign in · Drover";
  const login = h("input", { name: "login", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, "Sign in"),
    field("Login", login),
    field("Password", password),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", "/api/v2/auth/login", { login: login.value, password: password.value })
      .then(() => {
        const next = new URLSearchParams(location.search).get("next");
        location.assign(next?.startsWith("/") && !next.startsWith("//") ? next : "/projects");
      })
      .catch((err: unknown) => flash(err instanceof ApiError ? err.message : String(err), "error"));
  });
  render(form);
}

export async function logoutPage(): Promise<void> {
  document.title = "Sign out · Drover";
  const btn = h("button", { type: "button" }, "Sign out");
  btn.addEventListener("click", () => {
    void api("POST", "/api/v2/auth/logout", {})
      .catch(() => undefined)
      .then(() => {
        forgetToken();
        location.assign("/login");
      });
  });
  render(h("div", { class: "card narrow" }, h("h1", {}, "Sign out"), btn));
}
