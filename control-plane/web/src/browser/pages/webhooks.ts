/**
 * A project's webhooks: the URL to paste into the git host and whether a signing secret is set.
 * The secret's value is never shown: an admin sets one (typed, or generated in the browser and
 * copied to the clipboard) or rotates it to a new random one the page does not read.
 */
import { api, flash, h, render } from "../client.js";
import { enc, fail, field, param } from "./ui.js";

interface ProjectView {
  slug: string;
  vcs_info?: { provider?: string };
  webhook_secret_set?: boolean;
}

/** The forge a slug's `vcs` names, with its hook path and how it carries the secret. */
function forgeOf(slug: string): { name: string; path: string; how: string } | null {
  const vcs = slug.split("/")[0];
  if (vcs === "gh" || vcs === "github") {
    return {
      name: "GitHub",
      path: "/hooks/github",
      how: "Content type application/json, the secret below, event: push. GitHub signs each delivery (X-Hub-Signature-256).",
    };
  }
  if (vcs === "gl" || vcs === "gitlab") {
    return {
      name: "GitLab",
      path: "/hooks/gitlab",
      how: "Secret token: the secret below; triggers: push events and tag push events (X-Gitlab-Token).",
    };
  }
  return null;
}

/** 32 random bytes as hex, drawn in the browser. */
function randomSecret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export async function webhooksPage(): Promise<void> {
  const slug = param("slug");
  document.title = `Webhooks · ${slug} · Drover`;
  const [project, me] = await Promise.all([
    api<ProjectView>("GET", `/api/v2/project/${enc(slug)}`),
    api<{ role?: string }>("GET", "/api/v2/me"),
  ]);
  const settingsPath = `/api/v2/project/${enc(slug)}/settings`;
  const forge = forgeOf(slug);
  const url = forge ? `${location.origin}${forge.path}` : null;

  const urlBlock = url
    ? h(
        "div",
        { class: "card", id: "webhook-url" },
        h("h2", {}, `${forge?.name ?? ""} push webhook`),
        h("p", {}, "Payload URL:"),
        h("p", {}, h("code", { id: "webhook-url-value" }, url)),
        h("p", { class: "muted" }, forge?.how ?? ""),
      )
    : h("p", {}, "This project's host sends no webhooks Drover understands (GitHub or GitLab).");

  const status = h(
    "p",
    { id: "webhook-secret-state" },
    "Signing secret: ",
    h("strong", {}, project.webhook_secret_set ? "set" : "not set"),
    " (its value is never shown).",
  );

  let admin: HTMLElement | null = null;
  if (me.role === "admin") {
    const secret = h("input", {
      name: "webhook_secret",
      type: "password",
      autocomplete: "new-password",
      minlength: "16",
      required: true,
      "aria-describedby": "secret-help",
    });
    const generate = h("button", { type: "button" }, "Generate and copy");
    generate.addEventListener("click", () => {
      // The secret goes to the clipboard (for the host) and the field (to save), never on screen.
      const value = randomSecret();
      const unavailable = (): void =>
        flash("The clipboard is unavailable here: type a secret of your own.", "error");
      // The clipboard exists on secure origins only (HTTPS or localhost).
      if (!navigator.clipboard) return unavailable();
      navigator.clipboard
        .writeText(value)
        .then(() => {
          secret.value = value;
          flash(
            "A new secret is on the clipboard and in the field: paste it in the host, save it.",
          );
        })
        .catch(unavailable);
    });
    const set = h(
      "form",
      { class: "card", id: "set-webhook-secret" },
      h("h2", {}, "Set the signing secret"),
      field("Secret", secret),
      h(
        "p",
        { id: "secret-help", class: "muted" },
        "At least 16 printable characters; paste the same value into the git host's webhook.",
      ),
      h("div", { class: "actions" }, generate, h("button", { type: "submit" }, "Save secret")),
    );
    set.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void api("PATCH", settingsPath, { webhook_secret: secret.value })
        .then(() => {
          secret.value = "";
          flash("Secret saved. Deliveries signed with the old one are refused.");
        })
        .catch(fail);
    });
    const rotate = h("button", { type: "button" }, "Rotate secret");
    rotate.addEventListener("click", () => {
      // The response carries the new secret; the page drops it unread.
      void api("PATCH", settingsPath, { rotate_webhook_secret: true })
        .then(() =>
          flash("Secret rotated: the old one no longer works. Set one above to use in the host."),
        )
        .catch(fail);
    });
    admin = h(
      "div",
      {},
      set,
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Rotate"),
        h("p", {}, "Draw a new random secret at once, e.g. when the old one leaked."),
        rotate,
      ),
    );
  }

  render(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "/projects" }, "Projects"),
      " / ",
      h("a", { href: `/projects/${enc(slug)}` }, slug),
      " / webhooks",
    ),
    h("h1", {}, "Webhooks"),
    urlBlock,
    status,
    admin,
  );
}
