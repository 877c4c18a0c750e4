/* consent-gateway banner (README.md): loaded async, no eval. */
(() => {
  'use strict';
  const W = window, D = document, H = history, tag = D.currentScript;
  const framed = W !== W.top; // a frame only unblocks: the page around it asks and counts
  let cfg = {};
  try { cfg = JSON.parse((tag && tag.dataset.config) || '{}'); } catch { /* defaults */ }
  const prefix = cfg.prefix || '/_consent/';
  const cats = cfg.categories || ['preferences', 'analytics', 'marketing'];
  const mode = cfg.mode || { ad_storage: 'marketing', ad_user_data: 'marketing',
    ad_personalization: 'marketing', analytics_storage: 'analytics' };

  // Google Consent Mode v2: inline defaults came first; updates follow.
  const dataLayer = W.dataLayer = W.dataLayer || [];
  function gtag() { dataLayer.push(arguments); }
  const signals = (on) => {
    const out = {};
    for (const key in mode) out[key] = on[mode[key]] ? 'granted' : 'denied';
    return out;
  };

  // Built-in texts; a category is "Name|Description".
  const TEXTS = {
    en: { title: 'Cookies and your privacy', text: 'We use cookies the site needs to work and, if you agree, cookies for preferences, statistics and marketing. You can change your choice at any time.', policy: 'Privacy policy', accept: 'Accept all', reject: 'Reject all', choose: 'Choose', save: 'Save choices', settings: 'Cookie settings', gpc: 'Your browser sends Global Privacy Control: marketing stays off.', on: 'Always on', necessary: 'Necessary|Needed for the site to work.', preferences: 'Preferences|Remember choices such as language.', analytics: 'Analytics|Count visits without identifying you.', marketing: 'Marketing|Adverts suited to you.' },
    fr: { title: 'Les cookies et votre vie privée', text: 'Nous utilisons les cookies nécessaires au site et, si vous l’acceptez, des cookies de préférences, de statistiques et de marketing. Vous pouvez changer d’avis à tout moment.', policy: 'Politique de confidentialité', accept: 'Tout accepter', reject: 'Tout refuser', choose: 'Choisir', save: 'Enregistrer', settings: 'Paramètres des cookies', gpc: 'Votre navigateur envoie Global Privacy Control : le marketing reste désactivé.', on: 'Toujours actifs', necessary: 'Nécessaires|Indispensables au site.', preferences: 'Préférences|Mémorisent vos choix, comme la langue.', analytics: 'Statistiques|Comptent les visites sans vous identifier.', marketing: 'Marketing|Publicités adaptées à vous.' },
    de: { title: 'Cookies und Ihre Privatsphäre', text: 'Wir verwenden Cookies, die die Website braucht, und mit Ihrer Einwilligung Cookies für Einstellungen, Statistik und Marketing. Sie können Ihre Wahl jederzeit ändern.', policy: 'Datenschutzerklärung', accept: 'Alle akzeptieren', reject: 'Alle ablehnen', choose: 'Auswählen', save: 'Auswahl speichern', settings: 'Cookie-Einstellungen', gpc: 'Ihr Browser sendet Global Privacy Control: Marketing bleibt aus.', on: 'Immer aktiv', necessary: 'Notwendig|Für den Betrieb nötig.', preferences: 'Einstellungen|Speichern Ihre Wahl, etwa die Sprache.', analytics: 'Statistik|Zählen Besuche, ohne Sie zu identifizieren.', marketing: 'Marketing|Auf Sie abgestimmte Werbung.' },
    es: { title: 'Las cookies y su privacidad', text: 'Usamos las cookies que el sitio necesita y, si usted acepta, cookies de preferencias, estadísticas y marketing. Puede cambiar su elección en cualquier momento.', policy: 'Política de privacidad', accept: 'Aceptar todo', reject: 'Rechazar todo', choose: 'Elegir', save: 'Guardar selección', settings: 'Configuración de cookies', gpc: 'Su navegador envía Global Privacy Control: el marketing sigue desactivado.', on: 'Siempre activas', necessary: 'Necesarias|Imprescindibles para el sitio.', preferences: 'Preferencias|Recuerdan elecciones como el idioma.', analytics: 'Estadísticas|Cuentan las visitas sin identificarle.', marketing: 'Marketing|Anuncios adaptados a usted.' },
    cy: { title: 'Cwcis a’ch preifatrwydd', text: 'Rydym yn defnyddio cwcis sydd eu hangen ar y wefan ac, os ydych yn cytuno, cwcis ar gyfer dewisiadau, ystadegau a marchnata. Gallwch newid eich dewis unrhyw bryd.', policy: 'Polisi preifatrwydd', accept: 'Derbyn y cyfan', reject: 'Gwrthod y cyfan', choose: 'Dewis', save: 'Cadw dewisiadau', settings: 'Gosodiadau cwcis', gpc: 'Mae eich porwr yn anfon Global Privacy Control: mae marchnata yn aros i ffwrdd.', on: 'Ymlaen bob amser', necessary: 'Angenrheidiol|Eu hangen i’r wefan weithio.', preferences: 'Dewisiadau|Cofio dewisiadau fel iaith.', analytics: 'Ystadegau|Cyfrif ymweliadau heb eich adnabod.', marketing: 'Marchnata|Hysbysebion sy’n addas i chi.' },
  };
  const own = cfg.texts || {};
  const code = [D.documentElement.lang, ...(navigator.languages || [])]
    .map((l) => (l || '').toLowerCase().split('-')[0])
    .find((l) => TEXTS[l] || own[l]) || 'en';
  const t = Object.assign({}, TEXTS.en, own.en, TEXTS[code], own[code]);
  const rtl = /^(ar|dv|fa|he|ps|ur|yi)$/.test(code);

  let state, granted = { necessary: true }, box, cats2, choose, save, opener;
  let back, fromChoose;
  const activated = {}, listeners = [];
  const el = (name, attrs, kids) => {
    const node = D.createElement(name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    node.append(...(kids || []));
    return node;
  };

  const api = (method, body) => fetch(prefix + 'state', {
    method, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state ? state.csrf : '' },
    body: body && JSON.stringify(body),
  }).then((r) => (r.ok ? r.json() : Promise.reject(r)));

  // Shown once styled (no flash); the sheet goes first, so the page's own rules win.
  const css = el('link', { rel: 'stylesheet', href: cfg.css || prefix + 'banner.css' });
  const styled = new Promise((go) => { css.onload = css.onerror = go; });
  css.nonce = tag.nonce;
  D.head.prepend(css);
  const parsed = new Promise((go) => (D.body ? go() : D.addEventListener('DOMContentLoaded', go)));
  const ready = Promise.all([api('GET'), parsed, styled]).then(([s]) => {
    apply(s);
    if (!framed) s.must_show ? show(false) : drawOpener();
  });

  function decide(method, body) {
    const had = granted.analytics;
    // An idle session has expired with its CSRF token: fetch a new one and retry once.
    return api(method, body).catch(() => api('GET').then((s) => { state = s; return api(method, body); }))
      .then((s) => {
        hide();
        apply(s);
        if (granted.analytics && !had) beacon([pageview()]);
      });
  }

  function apply(s) {
    const before = granted;
    state = s;
    granted = s.categories;
    gtag('consent', 'update', signals(granted));
    // Something already ran for a category now refused: only a reload can stop it.
    for (const c in activated) if (!granted[c] && before[c]) return location.reload();
    unblock();
    const categories = Object.assign({}, granted);
    listeners.forEach((fn) => fn(categories));
    D.dispatchEvent(new CustomEvent('consent:change', { detail: { categories } }));
  }

  function unblock() {
    D.querySelectorAll('script[type="text/plain"][data-consent],iframe[data-consent][data-src]')
      .forEach((node) => {
        const need = node.dataset.consent.split(/\s+/).filter(Boolean);
        if (!need.every((c) => granted[c])) return;
        need.forEach((c) => { activated[c] = true; });
        if (node.tagName === 'IFRAME') {
          node.src = node.dataset.src;
          node.removeAttribute('data-src');
          return;
        }
        const copy = D.createElement('script');
        for (const a of node.attributes) if (a.name !== 'type') copy.setAttribute(a.name, a.value);
        if (node.dataset.type) copy.type = node.dataset.type;
        copy.async = false; // keep the page's order among unblocked scripts
        copy.text = node.text;
        node.replaceWith(copy);
      });
  }

  // -- the banner: a region; its second layer, a modal dialog
  function build() {
    const button = (action, label) => el('button', { type: 'button', 'data-cg': action }, [label]);
    const rows = ['necessary', ...cats].map((c) => {
      const [name, about] = (t[c] || c).split('|');
      const head = c === 'necessary'
        ? el('p', { class: 'cg-on' }, [el('b', {}, [name]), t.on])
        : el('label', {}, [el('input', { type: 'checkbox', role: 'switch', name: c, 'aria-describedby': 'cg-' + c }), name]);
      return el('div', { class: 'cg-cat' }, [head, el('p', { id: 'cg-' + c }, [about || ''])]);
    });
    if (state.gpc) rows.unshift(el('p', { class: 'cg-gpc' }, [t.gpc]));
    cats2 = el('div', { class: 'cg-cats' }, rows);
    choose = button('choose', t.choose);
    save = button('save', t.save);
    box = el('div', { class: 'cg', 'aria-labelledby': 'cg-title', 'aria-describedby': 'cg-desc', lang: code, dir: rtl ? 'rtl' : 'ltr' }, [
      el('h2', { id: 'cg-title' }, [t.title]),
      el('p', { id: 'cg-desc' }, [t.text + ' ', el('a', { href: cfg.policy || prefix + 'privacy' }, [t.policy])]),
      cats2,
      el('div', { class: 'cg-btns' }, [button('accept_all', t.accept), button('reject_all', t.reject), choose, save]),
    ]);
    box.addEventListener('click', (e) => {
      const action = e.target.closest('[data-cg]');
      if (!action) return;
      const what = action.dataset.cg;
      if (what === 'choose') { fromChoose = true; layer(true); return; }
      const body = what === 'save'
        ? { categories: Object.fromEntries(cats.map((c) => [c, box.querySelector('[name=' + c + ']').checked])) }
        : { action: what };
      decide('POST', body);
    });
    box.addEventListener('keydown', keys);
    box.addEventListener('focusin', (e) => { if (!box.contains(e.relatedTarget)) back = e.relatedTarget; });
    D.body.prepend(box); // first in reading order
    // object.js: the opt-out notice and Object button
    if (state.opt_out[0]) D.head.append(el('script', { src: cfg.object, nonce: tag.nonce }));
  }

  function layer(second) {
    cats2.hidden = save.hidden = !second;
    choose.hidden = second;
    box.setAttribute('role', second ? 'dialog' : 'region');
    if (!second) return box.removeAttribute('aria-modal');
    box.setAttribute('aria-modal', 'true');
    cats.forEach((c) => { box.querySelector('[name=' + c + ']').checked = !!granted[c]; });
    box.querySelector('input').focus();
  }

  function show(second) {
    if (!box) build();
    box.hidden = false;
    if (opener) opener.hidden = true;
    fromChoose = false;
    layer(second);
  }

  function hide() {
    if (!box) return;
    const had = box.contains(D.activeElement);
    box.hidden = true;
    drawOpener();
    if (had) (back && back.isConnected ? back : opener).focus();
  }

  function drawOpener() {
    if (!opener) {
      opener = el('button', { type: 'button', class: 'cg-open', 'aria-haspopup': 'dialog' }, [t.settings]);
      opener.addEventListener('click', open);
      D.body.append(opener);
    }
    opener.hidden = false;
  }

  // Second layer: Tab stays inside, Escape leaves.
  function keys(e) {
    if (cats2.hidden) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      if (fromChoose) { layer(false); choose.focus(); fromChoose = false; } else hide();
      return;
    }
    if (e.key !== 'Tab') return;
    const stops = [...box.querySelectorAll('a[href],button,input')].filter((n) => n.offsetParent);
    const first = stops[0], last = stops[stops.length - 1], at = D.activeElement;
    if (at === (e.shiftKey ? first : last)) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  }

  const open = () => ready.then(() => show(true));
  D.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('[data-consent-open]')) { e.preventDefault(); open(); }
  });

  // -- analytics beacons, only ever sent with analytics consent
  const visible = () => D.visibilityState === 'visible';
  let path = location.pathname, last = location.href, since = visible() && Date.now();
  const beacon = (events) => {
    if (granted.analytics && events.length && !framed) navigator.sendBeacon(prefix + 'collect', JSON.stringify({ events }));
  };
  const pageview = () => ({ type: 'pageview', path: location.pathname, title: D.title.slice(0, 512), referrer: last.slice(0, 2048) });
  function engagement() {
    const ms = since && Date.now() - since; // visible time only
    since = visible() && Date.now();
    return ms > 0 ? [{ type: 'engagement', path, engagement_ms: Math.min(ms, 864e5) }] : [];
  }
  function navigated() {
    if (location.pathname === path) return;
    const events = engagement();
    path = location.pathname;
    events.push(pageview());
    last = location.href;
    beacon(events);
  }
  ['pushState', 'replaceState'].forEach((name) => {
    const original = H[name];
    H[name] = function () { const r = original.apply(this, arguments); navigated(); return r; };
  });
  W.addEventListener('popstate', navigated);
  D.addEventListener('visibilitychange', () => (visible() ? (since = Date.now()) : beacon(engagement())));
  W.addEventListener('pagehide', () => { beacon(engagement()); since = 0; });

  // -- the API for the site's own code
  W.consentGateway = {
    get: () => (state ? Object.assign({}, granted) : null),
    open,
    on: (event, fn) => { if (event === 'change') listeners.push(fn); },
    withdraw: () => ready.then(() => decide('DELETE')),
    track: (...a) => (W.cgq || []).push(a),
  };
})();
