// kgdx web report: HPO autocomplete from the KG, and copy buttons for Cypher. No framework, no network
// beyond this server.
(function () {
  "use strict";
  const term = document.getElementById("term");
  const list = document.getElementById("suggestions");
  const findings = document.getElementById("findings");
  const absent = document.getElementById("absent");
  let timer = null;

  function add(id, name) {
    const line = (absent && absent.checked ? "not " : "") + id + " " + name;
    findings.value = (findings.value.trim() ? findings.value.trim() + "\n" : "") + line + "\n";
    term.value = "";
    list.hidden = true;
    term.focus();
  }

  function show(items) {
    list.innerHTML = "";
    for (const it of items) {
      const li = document.createElement("li");
      li.dataset.id = it.id;
      li.appendChild(document.createTextNode(it.name + " "));
      const span = document.createElement("span");
      span.className = "id";
      span.textContent = it.id;
      li.appendChild(span);
      li.addEventListener("mousedown", function (e) { e.preventDefault(); add(it.id, it.name); });
      list.appendChild(li);
    }
    list.hidden = items.length === 0;
  }

  if (term) {
    term.addEventListener("input", function () {
      clearTimeout(timer);
      const q = term.value.trim();
      if (q.length < 2) { list.hidden = true; return; }
      timer = setTimeout(function () {
        fetch("/ui/complete?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(show)
          .catch(function () { list.hidden = true; });
      }, 200);
    });
    term.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        e.preventDefault();
        const first = list.querySelector("li");
        if (!list.hidden && first) { add(first.dataset.id, first.firstChild.textContent.trim()); }
      } else if (e.key === "Escape") { list.hidden = true; }
    });
    term.addEventListener("blur", function () { setTimeout(function () { list.hidden = true; }, 150); });
  }

  document.addEventListener("click", function (e) {
    const b = e.target.closest("button.copy");
    if (!b) { return; }
    const text = b.dataset.copy;
    const done = function () { const old = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = old; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else { fallback(text); done(); }
  });

  function fallback(text) {
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (err) { /* the Cypher stays visible to copy by hand */ }
    document.body.removeChild(ta);
  }
})();
