// The dashboard's token: from the URL fragment (#token=...: a fragment is
// never sent to a server or written to its logs) and removed from the address
// bar as soon as it is read, or typed into the sign-in form when the daemon
// closes the connection with 1008. It is kept in memory only (the client holds
// it): never localStorage, sessionStorage or cookies.

const $ = (id) => document.getElementById(id);

/** Returns the fragment's token (or null) and leaves no trace of it in the URL. */
export function takeFragmentToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  return token || null;
}

/** Shows the sign-in form; `reason` is the daemon's close reason, shown as text. */
export function showSignIn(reason) {
  $('signin-reason').textContent = /fail/i.test(reason || '')
    ? 'The token was not accepted. Enter a valid token.'
    : 'This queuecastd requires a token.';
  $('signin').hidden = false;
  $('signin-token').focus();
}

/** Calls `use(token)` with every token entered in the form. */
export function onSignIn(use) {
  $('signin').addEventListener('submit', (event) => {
    event.preventDefault(); // never submitted anywhere (CSP form-action 'none')
    const input = $('signin-token');
    const token = input.value.trim();
    if (!token) return;
    input.value = '';
    $('signin').hidden = true;
    use(token);
  });
}
