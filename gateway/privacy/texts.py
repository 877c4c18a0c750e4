"""The privacy page's words in the banner's languages, and picking one from Accept-Language.

English, French, German, Spanish and Welsh, like the banner. Each text is a
plain sentence; the page escapes it and fills ``{days}``-style fields itself.
"""

from __future__ import annotations

LANGUAGES = ("en", "fr", "de", "es", "cy")
DEFAULT = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy on this site",
        "collect_h": "What we collect and why",
        "collect": (
            "Without your consent we set only the cookies the site needs to work. If you "
            "consent to analytics, we record the pages you visit, when, for how long, and "
            "how you move between them, with your country, browser, operating system, "
            "device type and a shortened IP address (the last part removed), to learn how "
            "the site is used. No one sees an individual in our statistics."
        ),
        "keep_h": "How long we keep it",
        "keep": (
            "Visits are deleted automatically after {analytics}. The record of your consent "
            "choices is kept {consent_log} days, to prove what you agreed to. Daily counts "
            "of the whole site, each of several visitors and none about you alone, are kept "
            "25 months, to compare a year with the one before."
        ),
        "consent_h": "Your consent",
        "consent_none": "You have not made a choice yet.",
        "consent_unasked": (
            "You have not made a choice yet. Without asking, only to count visits so we can "
            "improve the site or to remember your display choices, we use: {categories}. You can "
            "object, free of charge, with the button below."
        ),
        "consent_now": "You currently allow: {categories}.",
        "change": "Change your choice",
        "data_h": "Data we hold about you",
        "no_data": "We hold no visits for you.",
        "no_id": (
            "Your browser carries no consent of ours, so no visit can be linked to you "
            "and there is nothing to show."
        ),
        "visits": "{count} recorded events, newest first:",
        "col_time": "Time",
        "col_page": "Page",
        "col_country": "Country",
        "col_browser": "Browser",
        "col_os": "System",
        "col_device": "Device",
        "col_ip": "Shortened IP",
        "export_h": "Download your data",
        "export_json": "Download as JSON",
        "export_csv": "Visits as CSV",
        "export_consent_csv": "Consent history as CSV",
        "erase_h": "Erase your data",
        "erase": (
            "This deletes every visit we hold for you, forgets your consent and removes our "
            "cookies from your browser. The record that your data was erased is kept."
        ),
        "erase_confirm": "Yes, erase my data",
        "erase_button": "Erase my data",
        "erasing": "Your data is being erased.",
        "erased": "Your data has been erased. Nothing is left.",
        "erase_failed": "Erasing did not finish yet; it will be retried. Reload this page.",
        "withdrawn": (
            "You withdrew your consent to analytics: nothing more is recorded. You can also "
            "erase what was recorded before."
        ),
        "rights_h": "Your rights",
        "rights": (
            "You can see, download and erase your data here, and withdraw your consent at "
            "any time, as easily as you gave it. For anything else, contact the site's owner."
        ),
        "none": "nothing beyond what the site needs",
        "month": "one month",
        "days": "{days} days",
    },
    "fr": {
        "title": "Votre vie privée sur ce site",
        "collect_h": "Ce que nous collectons et pourquoi",
        "collect": (
            "Sans votre consentement, nous ne déposons que les cookies nécessaires au site. "
            "Si vous acceptez les statistiques, nous enregistrons les pages visitées, quand, "
            "combien de temps et votre parcours, avec votre pays, navigateur, système, type "
            "d'appareil et une adresse IP raccourcie (la dernière partie retirée), pour "
            "comprendre l'usage du site. Personne n'est identifié dans nos statistiques."
        ),
        "keep_h": "Combien de temps nous les gardons",
        "keep": (
            "Les visites sont supprimées automatiquement après {analytics}. La trace de vos "
            "choix de consentement est gardée {consent_log} jours, pour prouver votre accord. "
            "Des totaux quotidiens de tout le site, chacun de plusieurs visiteurs et aucun sur "
            "vous seul, sont gardés 25 mois, pour comparer une année à la précédente."
        ),
        "consent_h": "Votre consentement",
        "consent_none": "Vous n'avez pas encore fait de choix.",
        "consent_unasked": (
            "Vous n'avez pas encore fait de choix. Sans vous le demander, uniquement pour compter"
            " les visites afin d'améliorer le site ou pour mémoriser vos choix d'affichage, nous "
            "utilisons : {categories}. Vous pouvez vous y opposer gratuitement avec le bouton ci-"
            "dessous."
        ),
        "consent_now": "Vous autorisez actuellement : {categories}.",
        "change": "Modifier votre choix",
        "data_h": "Les données que nous avons sur vous",
        "no_data": "Nous n'avons aucune visite pour vous.",
        "no_id": (
            "Votre navigateur ne porte aucun consentement de notre part : aucune visite ne "
            "peut vous être reliée, il n'y a rien à montrer."
        ),
        "visits": "{count} événements enregistrés, les plus récents d'abord :",
        "col_time": "Heure",
        "col_page": "Page",
        "col_country": "Pays",
        "col_browser": "Navigateur",
        "col_os": "Système",
        "col_device": "Appareil",
        "col_ip": "IP raccourcie",
        "export_h": "Télécharger vos données",
        "export_json": "Télécharger en JSON",
        "export_csv": "Visites en CSV",
        "export_consent_csv": "Historique du consentement en CSV",
        "erase_h": "Effacer vos données",
        "erase": (
            "Cela supprime toutes vos visites, oublie votre consentement et retire nos cookies "
            "de votre navigateur. La trace de l'effacement est conservée."
        ),
        "erase_confirm": "Oui, effacer mes données",
        "erase_button": "Effacer mes données",
        "erasing": "Vos données sont en cours d'effacement.",
        "erased": "Vos données ont été effacées. Il ne reste rien.",
        "erase_failed": "L'effacement n'est pas terminé ; il sera relancé. Rechargez la page.",
        "withdrawn": (
            "Vous avez retiré votre consentement aux statistiques : plus rien n'est "
            "enregistré. Vous pouvez aussi effacer ce qui l'a été."
        ),
        "rights_h": "Vos droits",
        "rights": (
            "Vous pouvez ici consulter, télécharger et effacer vos données, et retirer votre "
            "consentement à tout moment, aussi simplement que vous l'avez donné."
        ),
        "none": "rien de plus que le nécessaire",
        "month": "un mois",
        "days": "{days} jours",
    },
    "de": {
        "title": "Ihre Privatsphäre auf dieser Website",
        "collect_h": "Was wir erfassen und warum",
        "collect": (
            "Ohne Ihre Einwilligung setzen wir nur die Cookies, die die Website braucht. "
            "Wenn Sie der Statistik zustimmen, erfassen wir besuchte Seiten, Zeitpunkt, Dauer "
            "und Ihren Weg durch die Website, mit Land, Browser, Betriebssystem, Gerätetyp und "
            "einer gekürzten IP-Adresse (ohne den letzten Teil). Niemand wird in unseren "
            "Statistiken als Person sichtbar."
        ),
        "keep_h": "Wie lange wir sie speichern",
        "keep": (
            "Besuche werden nach {analytics} automatisch gelöscht. Der Nachweis Ihrer "
            "Einwilligungen wird {consent_log} Tage aufbewahrt. Tägliche Gesamtzahlen der "
            "Website, jede von mehreren Besuchern und keine über Sie allein, werden 25 Monate "
            "aufbewahrt, um ein Jahr mit dem vorigen zu vergleichen."
        ),
        "consent_h": "Ihre Einwilligung",
        "consent_none": "Sie haben noch keine Wahl getroffen.",
        "consent_unasked": (
            "Sie haben noch keine Wahl getroffen. Ohne Nachfrage, nur um Besuche zu zählen und "
            "die Website zu verbessern oder um Ihre Anzeigeeinstellungen zu speichern, verwenden "
            "wir: {categories}. Sie können mit der Schaltfläche unten kostenlos widersprechen."
        ),
        "consent_now": "Sie erlauben derzeit: {categories}.",
        "change": "Auswahl ändern",
        "data_h": "Daten, die wir über Sie haben",
        "no_data": "Wir haben keine Besuche von Ihnen gespeichert.",
        "no_id": (
            "Ihr Browser trägt keine Einwilligung von uns, daher lässt sich kein Besuch Ihnen "
            "zuordnen, und es gibt nichts zu zeigen."
        ),
        "visits": "{count} erfasste Ereignisse, neueste zuerst:",
        "col_time": "Zeit",
        "col_page": "Seite",
        "col_country": "Land",
        "col_browser": "Browser",
        "col_os": "System",
        "col_device": "Gerät",
        "col_ip": "Gekürzte IP",
        "export_h": "Ihre Daten herunterladen",
        "export_json": "Als JSON herunterladen",
        "export_csv": "Besuche als CSV",
        "export_consent_csv": "Einwilligungsverlauf als CSV",
        "erase_h": "Ihre Daten löschen",
        "erase": (
            "Damit löschen wir alle Ihre Besuche, vergessen Ihre Einwilligung und entfernen "
            "unsere Cookies aus Ihrem Browser. Der Nachweis der Löschung bleibt erhalten."
        ),
        "erase_confirm": "Ja, meine Daten löschen",
        "erase_button": "Meine Daten löschen",
        "erasing": "Ihre Daten werden gelöscht.",
        "erased": "Ihre Daten wurden gelöscht. Es ist nichts mehr übrig.",
        "erase_failed": "Das Löschen ist noch nicht fertig und wird wiederholt. Seite neu laden.",
        "withdrawn": (
            "Sie haben Ihre Einwilligung zur Statistik widerrufen: Es wird nichts mehr "
            "erfasst. Sie können auch das bisher Erfasste löschen."
        ),
        "rights_h": "Ihre Rechte",
        "rights": (
            "Hier können Sie Ihre Daten einsehen, herunterladen und löschen und Ihre "
            "Einwilligung jederzeit so einfach widerrufen, wie Sie sie gegeben haben."
        ),
        "none": "nichts über das Notwendige hinaus",
        "month": "einem Monat",
        "days": "{days} Tagen",
    },
    "es": {
        "title": "Su privacidad en este sitio",
        "collect_h": "Qué recogemos y por qué",
        "collect": (
            "Sin su consentimiento solo usamos las cookies que el sitio necesita. Si acepta "
            "la analítica, registramos las páginas que visita, cuándo, cuánto tiempo y su "
            "recorrido, con su país, navegador, sistema, tipo de dispositivo y una dirección "
            "IP acortada (sin la última parte). Nadie es identificable en nuestras "
            "estadísticas."
        ),
        "keep_h": "Cuánto tiempo lo guardamos",
        "keep": (
            "Las visitas se borran automáticamente tras {analytics}. El registro de sus "
            "decisiones de consentimiento se guarda {consent_log} días, como prueba. Los "
            "recuentos diarios de todo el sitio, cada uno de varios visitantes y ninguno sobre "
            "usted solo, se guardan 25 meses, para comparar un año con el anterior."
        ),
        "consent_h": "Su consentimiento",
        "consent_none": "Aún no ha elegido.",
        "consent_unasked": (
            "Aún no ha elegido. Sin preguntarle, solo para contar las visitas y mejorar el sitio "
            "o para recordar sus preferencias de visualización, usamos: {categories}. Puede "
            "oponerse gratis con el botón de abajo."
        ),
        "consent_now": "Ahora permite: {categories}.",
        "change": "Cambiar su elección",
        "data_h": "Datos que tenemos sobre usted",
        "no_data": "No tenemos visitas suyas.",
        "no_id": (
            "Su navegador no lleva ningún consentimiento nuestro: ninguna visita puede "
            "vincularse a usted y no hay nada que mostrar."
        ),
        "visits": "{count} eventos registrados, los más recientes primero:",
        "col_time": "Hora",
        "col_page": "Página",
        "col_country": "País",
        "col_browser": "Navegador",
        "col_os": "Sistema",
        "col_device": "Dispositivo",
        "col_ip": "IP acortada",
        "export_h": "Descargar sus datos",
        "export_json": "Descargar en JSON",
        "export_csv": "Visitas en CSV",
        "export_consent_csv": "Historial de consentimiento en CSV",
        "erase_h": "Borrar sus datos",
        "erase": (
            "Esto borra todas sus visitas, olvida su consentimiento y quita nuestras cookies "
            "de su navegador. Se conserva constancia del borrado."
        ),
        "erase_confirm": "Sí, borrar mis datos",
        "erase_button": "Borrar mis datos",
        "erasing": "Sus datos se están borrando.",
        "erased": "Sus datos se han borrado. No queda nada.",
        "erase_failed": "El borrado aún no ha terminado; se reintentará. Recargue la página.",
        "withdrawn": (
            "Ha retirado su consentimiento a la analítica: no se registra nada más. También "
            "puede borrar lo registrado antes."
        ),
        "rights_h": "Sus derechos",
        "rights": (
            "Aquí puede ver, descargar y borrar sus datos, y retirar su consentimiento en "
            "cualquier momento, tan fácilmente como lo dio."
        ),
        "none": "nada más allá de lo necesario",
        "month": "un mes",
        "days": "{days} días",
    },
    "cy": {
        "title": "Eich preifatrwydd ar y wefan hon",
        "collect_h": "Beth rydym yn ei gasglu a pham",
        "collect": (
            "Heb eich caniatâd, dim ond y cwcis sydd eu hangen ar y wefan a osodwn. Os "
            "cytunwch i ddadansoddeg, rydym yn cofnodi'r tudalennau a welwch, pryd, am ba hyd "
            "a sut rydych yn symud rhyngddynt, gyda'ch gwlad, porwr, system weithredu, math "
            "o ddyfais a chyfeiriad IP wedi'i fyrhau. Ni welir neb fel unigolyn yn ein "
            "hystadegau."
        ),
        "keep_h": "Am ba hyd rydym yn ei gadw",
        "keep": (
            "Caiff ymweliadau eu dileu'n awtomatig ar ôl {analytics}. Cedwir cofnod eich "
            "dewisiadau caniatâd am {consent_log} diwrnod, i brofi'r hyn y cytunoch iddo. "
            "Cedwir cyfrifon dyddiol o'r wefan gyfan, pob un o sawl ymwelydd a dim un amdanoch "
            "chi yn unig, am 25 mis, i gymharu blwyddyn â'r un cynt."
        ),
        "consent_h": "Eich caniatâd",
        "consent_none": "Nid ydych wedi dewis eto.",
        "consent_unasked": (
            "Nid ydych wedi dewis eto. Heb ofyn, dim ond i gyfrif ymweliadau er mwyn gwella'r "
            "wefan neu i gofio eich dewisiadau arddangos, rydym yn defnyddio: {categories}. "
            "Gallwch wrthwynebu am ddim gyda'r botwm isod."
        ),
        "consent_now": "Ar hyn o bryd rydych yn caniatáu: {categories}.",
        "change": "Newid eich dewis",
        "data_h": "Data sydd gennym amdanoch",
        "no_data": "Nid oes gennym unrhyw ymweliadau i chi.",
        "no_id": (
            "Nid yw eich porwr yn cario caniatâd gennym, felly ni ellir cysylltu unrhyw "
            "ymweliad â chi ac nid oes dim i'w ddangos."
        ),
        "visits": "{count} digwyddiad wedi'u cofnodi, y diweddaraf yn gyntaf:",
        "col_time": "Amser",
        "col_page": "Tudalen",
        "col_country": "Gwlad",
        "col_browser": "Porwr",
        "col_os": "System",
        "col_device": "Dyfais",
        "col_ip": "IP wedi'i fyrhau",
        "export_h": "Lawrlwytho eich data",
        "export_json": "Lawrlwytho fel JSON",
        "export_csv": "Ymweliadau fel CSV",
        "export_consent_csv": "Hanes caniatâd fel CSV",
        "erase_h": "Dileu eich data",
        "erase": (
            "Mae hyn yn dileu pob ymweliad sydd gennym i chi, yn anghofio eich caniatâd ac yn "
            "tynnu ein cwcis o'ch porwr. Cedwir cofnod bod eich data wedi'i ddileu."
        ),
        "erase_confirm": "Ydw, dilëwch fy nata",
        "erase_button": "Dileu fy nata",
        "erasing": "Mae eich data'n cael ei ddileu.",
        "erased": "Mae eich data wedi'i ddileu. Nid oes dim ar ôl.",
        "erase_failed": "Nid yw'r dileu wedi gorffen; caiff ei ailgynnig. Ail-lwythwch y dudalen.",
        "withdrawn": (
            "Rydych wedi tynnu eich caniatâd i ddadansoddeg yn ôl: ni chofnodir dim mwy. "
            "Gallwch hefyd ddileu'r hyn a gofnodwyd o'r blaen."
        ),
        "rights_h": "Eich hawliau",
        "rights": (
            "Yma gallwch weld, lawrlwytho a dileu eich data, a thynnu eich caniatâd yn ôl "
            "unrhyw bryd, mor hawdd ag y rhoesoch ef."
        ),
        "none": "dim mwy na'r hyn sy'n angenrheidiol",
        "month": "mis",
        "days": "{days} diwrnod",
    },
}


def pick_language(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (RFC 9110 §12.5.4).

    Ranges are weighed by ``q``; a regional range (``fr-CA``) counts for its
    language; ``*`` or nothing known gives English.
    """
    best, best_q = DEFAULT, 0.0
    for position, item in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        # Earlier ranges win ties, as browsers list them in order of preference.
        score = quality - position * 1e-6
        if language in TEXTS and score > best_q:
            best, best_q = language, score
    return best
