"""Email reports: a site's (or the trust's) weekly or monthly figures to the lists admins keep.

figures       what a report says, read through the stats layer (the k rule with it)
render        the report as an HTML email and its plain-text alternative
trust         the trust's figures (every site and the total, under k) and its report
trust_render  the trust's report as an email's bodies; the bodies of either report
mailer        messages, and their sending through CG_SMTP_URL (STARTTLS or TLS)
lists         the recipient lists, and taking an address off one
unsubscribe   the signed unsubscribe link, answered on the public listener
sending       one report to its recipients, audited
scheduler     the task in each gateway that sends what is due, one sender per report
commands      ``consent-gateway report send|preview``
"""
