"""The dashboard's pages, one blueprint each: incidents (dashboard.py), drills (drills.py, with
its creation form in drill_form.py), accounts and the audit log (admin.py), the configuration
(config.py). Each guards itself with `hotline.web.auth.protect`; no page module imports another.
"""
