/**
 * The job page's HTML shell. Its script and stylesheet are `@drover/web`'s built files, served
 * under a path carrying their content hash (`/static/web/<version>/job-page.js`), so a new build
 * is never mixed with a cached old one.
 */

export const STATIC_PREFIX = "/static/web";
export const PUSHER_JS_PATH = `${STATIC_PREFIX}/pusher.min.js`;

/** The URL of one of `@drover/web`'s assets at a bundle version. */
export const assetPath = (version: string, name: string): string =>
  `${STATIC_PREFIX}/${version}/${name}`;
export const JOB_DATA_PATH = "/web/v1/jobs";

const escapeAttr = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The page shell; everything else is filled in by the script. */
export function renderJobPage(jobId: string, version: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Job · Drover</title>
<link rel="stylesheet" href="${assetPath(version, "job-page.css")}">
</head>
<body>
<main id="drover-job" data-job-id="${escapeAttr(jobId)}" data-data-path="${JOB_DATA_PATH}">
  <header class="job-header">
    <div class="crumbs" id="crumbs">Drover</div>
    <h1><span id="job-name">Loading job…</span> <span id="job-status" class="badge">…</span></h1>
    <div class="meta"><span id="job-duration"></span> <span id="conn-state" class="conn">connecting</span>
      <button id="rerun-ssh" class="rerun" type="button" hidden>Rerun with SSH</button></div>
  </header>
  <div id="notice" class="notice" hidden></div>
  <section id="tasks" class="tasks" aria-live="off"></section>
  <p id="waiting" class="waiting">Waiting for output…</p>
  <button id="follow" class="follow" type="button" hidden>Follow output ↓</button>
</main>
<script src="${PUSHER_JS_PATH}"></script>
<script type="module" src="${assetPath(version, "job-page.js")}"></script>
</body>
</html>
`;
}
