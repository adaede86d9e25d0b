// The web pages for browsers: writing a message (GET / as HTML) and reading one
// (GET /msg/:id as HTML, which counts no view). Static text with no inline script or style,
// so the strict CSP holds; the behaviour is in web/client.js (/assets/missive.js), the
// look in `pageStyle` (/assets/missive.css).

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Missive</title>
<link rel="stylesheet" href="/assets/missive.css">
<script type="module" src="/assets/missive.js"></script>
</head>
<body>
<main>
<h1><a href="/">Missive</a></h1>
${body}
</main>
</body>
</html>
`

// The lifetimes the page offers: these presets up to MESSAGE_MAX_TTL_SECONDS, the default
// lifetime (selected), and the maximum itself when it cuts the presets short, so the page
// never offers a lifetime the server refuses.
const TTL_PRESETS = [600, 3600, 86400, 604800]
const UNITS: Array<[number, string]> = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']]

function duration (seconds: number): string {
  const [size, unit] = UNITS.find(([size]) => seconds % size === 0) ?? [1, 'second']
  const count = seconds / size
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}

function ttlOptions (defaultTtl: number, maxTtl: number): string {
  const offered = new Set(TTL_PRESETS.filter((ttl) => ttl <= maxTtl))
  offered.add(defaultTtl)
  if (maxTtl < Math.max(...TTL_PRESETS)) offered.add(maxTtl)
  return [...offered].sort((a, b) => a - b)
    .map((ttl) => `<option value="${ttl}"${ttl === defaultTtl ? ' selected' : ''}>${duration(ttl)}</option>`).join('\n')
}

/**
 * The page for writing a message, for the lifetimes the runtime policy accepts (made again
 * only when the policy changes: routes/public.ts). With anonymous creation closed it has no
 * form: it says that creating needs the API, instead of failing on submit.
 */
export const composePage = (defaultTtl: number, maxTtl: number, anonymousCreate = true): string => anonymousCreate ? openPage(defaultTtl, maxTtl) : closedPage

const closedPage = page('Share a secret message', `<section>
<div id="create-closed" data-panel>
<p>Creating messages from this page is turned off on this server: messages are created through the API, with a key (<code>POST /api/v1/messages</code>; see <a href="/docs">the API documentation</a>).</p>
<p>Links to messages keep working: open the link you were given to read one.</p>
</div>
</section>`)

const openPage = (defaultTtl: number, maxTtl: number): string => page('Share a secret message', `<section>
<form id="compose" data-panel>
<p>Write a message, get a link to share. The link stops working when the message expires or has been read as often as you allow.</p>
<label for="content">Message</label>
<textarea id="content" name="content" rows="8" required autofocus></textarea>
<div class="options">
<label>Expires after
<select id="ttl" name="ttl">
${ttlOptions(defaultTtl, maxTtl)}
</select></label>
<label>Can be read
<select id="max-views" name="maxViews">
<option value="1" selected>once</option>
<option value="3">3 times</option>
<option value="10">10 times</option>
<option value="">until it expires</option>
</select></label>
</div>
<label class="check"><input type="checkbox" id="encrypt" name="encrypt" checked> Encrypt in this browser: the server never sees the message, and the key is only in the link</label>
<button type="submit">Create the link</button>
<p id="compose-status" class="status" role="alert"></p>
</form>
<div id="created" data-panel hidden>
<p>Your link is ready. Anyone with it can read the message<span class="views"> <span id="views"></span></span>, until <span id="expires"></span>.</p>
<label for="link">Link</label>
<div class="row"><input id="link" readonly><button type="button" id="copy">Copy</button></div>
<label for="delete-token">Delete token (to delete the message early: <code>DELETE</code> the link with the header <code>X-Delete-Token</code>)</label>
<input id="delete-token" readonly>
<p>Neither is shown again.</p>
<button type="button" id="another">Write another</button>
</div>
</section>
<noscript><p>This page needs JavaScript. Without it, use the API: <code>curl -X POST -H 'content-type: application/json' -d '{"content":"hello","maxViews":1}' &lt;this address&gt;</code></p></noscript>`)

export const readPage = page('A message for you', `<section>
<div id="closed" data-panel>
<p>Someone shared a message with you. Opening this page has not used up a view.</p>
<p>The message may be readable only once: show it when you are ready.</p>
<button type="button" id="reveal">Show the message</button>
<p id="read-status" class="status" role="alert"></p>
</div>
<div id="revealed" data-panel hidden>
<pre id="message"></pre>
<p id="remaining"></p>
</div>
<div id="gone" data-panel hidden>
<p>There is no message here: it never existed, has expired, or was already read as often as allowed.</p>
</div>
</section>
<noscript><p>This page needs JavaScript. Without it: <code>curl -H 'accept: text/plain' &lt;this link&gt;</code> (that read counts as a view).</p></noscript>`)

export const pageStyle = `:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
body { margin: 0; }
main { max-width: 42rem; margin: 0 auto; padding: 1.5rem 1rem; }
h1 a { color: inherit; text-decoration: none; }
label { display: block; margin: 1rem 0 0.25rem; font-weight: 600; }
label.check, .options label { font-weight: 400; }
.options { display: flex; gap: 1.5rem; flex-wrap: wrap; }
textarea, input:not([type=checkbox]), select { box-sizing: border-box; width: 100%; font: inherit; padding: 0.5rem; }
.options select { width: auto; margin-left: 0.5rem; }
textarea { font-family: ui-monospace, monospace; }
.row { display: flex; gap: 0.5rem; }
button { font: inherit; padding: 0.5rem 1rem; margin-top: 1rem; cursor: pointer; }
.row button { margin-top: 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; padding: 1rem; border: 1px solid currentColor; border-radius: 0.25rem; }
.status { color: #c00; min-height: 1.5em; }
[hidden] { display: none !important; }
`
