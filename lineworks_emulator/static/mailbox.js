// The emulator's mailbox page (demos/tests only). The server renders the mails (Jinja escapes
// them); this script only fetches the page again every second and swaps in the list when it
// changed, so a new mail shows without a reload and a reader's place is kept otherwise.
"use strict";

(function () {
  const POLL_MS = 1000;

  async function refresh() {
    try {
      const resp = await fetch(window.location.pathname, { cache: "no-store" });
      if (resp.ok) {
        const page = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = page.getElementById("mailbox");
        const shown = document.getElementById("mailbox");
        if (fresh && shown && fresh.innerHTML !== shown.innerHTML) {
          shown.replaceWith(document.importNode(fresh, true));
        }
      }
    } catch (err) {
      // the emulator is restarting or gone: keep what is shown and try again
    } finally {
      setTimeout(refresh, POLL_MS);
    }
  }

  setTimeout(refresh, POLL_MS);
})();
