// Placeholder pages for browsers. The full client (compose and read with in-browser
// encryption) replaces these; they carry no inline script, so the strict CSP holds.

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Missive</title>
</head>
<body>
<main>
<h1>Missive</h1>
${body}
</main>
</body>
</html>
`

export const composePage = page('Share a secret message', `<p>Share a message through a link that expires, and can burn after it is read.</p>
<p>The page for writing messages is on its way. Until then, use the API:</p>
<pre>curl -s -X POST -H 'content-type: application/json' -d '{"content":"hello","maxViews":1}' https://this-host/</pre>`)

export const readPage = page('A message for you', `<p>Someone shared a message with you through this link.</p>
<p>Opening this page has not used up a view. The page that reveals the message is on its way; until then fetch it with
<code>curl -H 'accept: text/plain' &lt;this link&gt;</code> (that read counts as a view).</p>`)
