// The sign-in link from `kripto dev` carries the token in the URL's fragment (`#token=...`),
// which the browser never sends to a server. Take it out of the address bar and out of this
// history entry at once, then sign in with it by POST.
(function () {
  "use strict";
  const match = /^#token=(.+)$/.exec(window.location.hash);
  if (!match) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  if (document.getElementById("error")) {
    return; // this very token was just refused: do not send it again
  }
  document.getElementById("token").value = decodeURIComponent(match[1]);
  document.getElementById("login").submit();
})();
