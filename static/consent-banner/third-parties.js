/* consent-gateway: releases the third-party frames, images and links the gateway held
   back (README.md), and puts a placeholder where an embed waits. Loaded only by pages
   that have some; banner.js releases the held-back scripts. */
(() => {
  'use strict';
  const D = document, me = D.currentScript;
  const prefix = (me && me.dataset.prefix) || '/_consent/';
  const TEXTS = {
    en: { video: 'Load video', map: 'Load map', always: 'Always allow %s', note: 'This content is hosted by %s, which may set cookies and learn your address. It loads only if you agree.' },
    fr: { video: 'Charger la vidéo', map: 'Charger la carte', always: 'Toujours autoriser %s', note: 'Ce contenu est hébergé par %s, qui peut déposer des cookies et connaître votre adresse. Il ne se charge qu’avec votre accord.' },
    de: { video: 'Video laden', map: 'Karte laden', always: '%s immer erlauben', note: 'Dieser Inhalt liegt bei %s, das Cookies setzen und Ihre Adresse erfahren kann. Er lädt nur mit Ihrer Zustimmung.' },
    es: { video: 'Cargar vídeo', map: 'Cargar mapa', always: 'Permitir siempre %s', note: 'Este contenido está alojado en %s, que puede instalar cookies y conocer su dirección. Solo se carga si usted acepta.' },
    cy: { video: 'Llwytho fideo', map: 'Llwytho map', always: 'Caniatáu %s bob amser', note: 'Mae’r cynnwys hwn yn cael ei gynnal gan %s, a allai osod cwcis a gweld eich cyfeiriad. Dim ond os ydych yn cytuno y bydd yn llwytho.' },
  };
  const code = [D.documentElement.lang, ...(navigator.languages || [])]
    .map((l) => (l || '').toLowerCase().split('-')[0]).find((l) => TEXTS[l]) || 'en';
  const t = TEXTS[code];
  let granted = {}, services = [], csrf = '';
  const released = {}; // categories something was released for

  function release(node) {
    for (const a of [...node.attributes]) {
      if (!/^data-cg-(src|href|srcset)$/.test(a.name)) continue;
      node.removeAttribute(a.name);
      node.setAttribute(a.name.slice(8), a.value);
    }
    if (node.cgPlaceholder) { node.cgPlaceholder.remove(); node.hidden = false; }
  }

  function allowed(node) {
    return services.includes(node.dataset.cgService) ||
      node.dataset.consent.split(/\s+/).filter(Boolean).every((c) => granted[c]);
  }

  function scan() {
    D.querySelectorAll('[data-cg-src],[data-cg-href],[data-cg-srcset]').forEach((node) => {
      if (node.tagName === 'SCRIPT') return;
      if (allowed(node)) {
        if (!services.includes(node.dataset.cgService)) node.dataset.consent.split(/\s+/).forEach((c) => { released[c] = true; });
        release(node);
      } else if (node.dataset.cgEmbed && !node.cgPlaceholder) placeholder(node);
    });
  }

  function placeholder(frame) {
    const name = frame.dataset.cgProvider, box = frame.getBoundingClientRect();
    const button = (label, go) => {
      const b = D.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.addEventListener('click', go);
      return b;
    };
    const note = D.createElement('p');
    note.textContent = t.note.replace('%s', name);
    const holder = D.createElement('div');
    holder.className = 'cg-ph';
    holder.setAttribute('role', 'group');
    holder.setAttribute('aria-label', name);
    if (box.width) holder.style.width = box.width + 'px';
    if (box.height) holder.style.minHeight = box.height + 'px';
    holder.append(note,
      button(t[frame.dataset.cgEmbed] || t.video, () => release(frame)),
      button(t.always.replace('%s', name), () => always(frame.dataset.cgService)));
    frame.cgPlaceholder = holder;
    frame.hidden = true;
    frame.before(holder);
  }

  function always(service) {
    fetch(prefix + 'state', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ services: { [service]: true } }),
    }).then((r) => (r.ok ? r.json() : Promise.reject(r))).then(update);
  }

  function update(state) {
    csrf = state.csrf || csrf;
    services = state.services || [];
    change(state.categories || {});
  }

  function change(categories) {
    // Something already loaded for a category now refused: only a reload stops it.
    for (const c in released) if (!categories[c]) return location.reload();
    granted = categories;
    scan();
  }

  const css = D.createElement('link');
  css.rel = 'stylesheet';
  css.href = (me && me.dataset.css) || prefix + 'third-parties.css';
  D.head.append(css);
  D.addEventListener('consent:change', (e) => change(e.detail.categories));
  const parsed = new Promise((go) => (D.readyState === 'loading' ? D.addEventListener('DOMContentLoaded', go) : go()));
  Promise.all([fetch(prefix + 'state', { credentials: 'same-origin' }).then((r) => r.json()), parsed])
    .then(([state]) => update(state));
})();
