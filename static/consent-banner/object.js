/* consent-gateway: what runs without asking, and the Object button (README.md).
   banner.js loads it for a visitor under an opt-out regime (CG_CONSENT_REGIMES, such as the
   UK's statistics exception); "Object" refuses those categories in one click. */
(() => {
  'use strict';
  const D = document, box = D.querySelector('.cg'), api = window.consentGateway;
  if (!box || !api || box.querySelector('[data-cg=object]')) return;

  const TEXTS = {
    en: { unasked: 'Without asking, we use cookies that count visits so we can improve the site, or remember your display choices:', free: 'You can object, free of charge, here or at any time in Cookie settings.', gpc_object: 'Your browser sends Global Privacy Control, which we count as an objection to statistics.', object: 'Object' },
    fr: { unasked: 'Sans vous le demander, nous utilisons des cookies qui comptent les visites pour améliorer le site, ou mémorisent vos choix d’affichage :', free: 'Vous pouvez vous y opposer gratuitement, ici ou à tout moment dans les paramètres des cookies.', gpc_object: 'Votre navigateur envoie Global Privacy Control, que nous comptons comme une opposition aux statistiques.', object: 'M’opposer' },
    de: { unasked: 'Ohne Nachfrage verwenden wir Cookies, die Besuche zählen, damit wir die Website verbessern können, oder Ihre Anzeigeeinstellungen speichern:', free: 'Sie können kostenlos widersprechen, hier oder jederzeit in den Cookie-Einstellungen.', gpc_object: 'Ihr Browser sendet Global Privacy Control; das gilt bei uns als Widerspruch gegen die Statistik.', object: 'Widersprechen' },
    es: { unasked: 'Sin preguntarle, usamos cookies que cuentan las visitas para mejorar el sitio, o que recuerdan sus preferencias de visualización:', free: 'Puede oponerse gratis, aquí o en cualquier momento en la configuración de cookies.', gpc_object: 'Su navegador envía Global Privacy Control, que contamos como oposición a las estadísticas.', object: 'Oponerme' },
    cy: { unasked: 'Heb ofyn, rydym yn defnyddio cwcis sy’n cyfrif ymweliadau er mwyn i ni wella’r wefan, neu’n cofio eich dewisiadau arddangos:', free: 'Gallwch wrthwynebu am ddim, yma neu unrhyw bryd yn y gosodiadau cwcis.', gpc_object: 'Mae eich porwr yn anfon Global Privacy Control, ac rydym yn ei gyfrif fel gwrthwynebiad i ystadegau.', object: 'Gwrthwynebu' },
  };
  let own = {};
  try { own = JSON.parse(D.querySelector('script[data-config]').dataset.config).texts || {}; } catch { /* built-in texts */ }
  const code = box.lang;
  const t = Object.assign({}, TEXTS.en, own.en, TEXTS[code], own[code]);

  // What runs now, before any choice, is what the regime lets run unasked; named as the
  // banner's second layer names it.
  const granted = api.get() || {};
  const names = Object.keys(granted).filter((c) => granted[c] && c !== 'necessary').map((c) => {
    const input = box.querySelector('[name=' + c + ']');
    return input ? input.parentNode.textContent : c;
  });
  const note = D.createElement('p');
  note.id = 'cg-object';
  note.className = 'cg-gpc';
  note.textContent = [t.unasked, names.join(', ') + '.', t.free, navigator.globalPrivacyControl ? t.gpc_object : '']
    .join(' ').trim();
  box.querySelector('#cg-desc').after(note);
  box.setAttribute('aria-describedby', 'cg-desc cg-object');

  // banner.js sends {"action": "object"} for it, as it sends the other buttons' actions.
  const button = D.createElement('button');
  button.type = 'button';
  button.dataset.cg = 'object';
  button.textContent = t.object;
  box.querySelector('[data-cg=choose]').before(button);
})();
