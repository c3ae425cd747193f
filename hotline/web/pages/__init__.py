"""The dashboard's pages, one blueprint each: incidents (dashboard), drills, accounts and the
audit log (admin), the configuration (config). Each guards itself with `hotline.web.auth`;
no page module imports another."""
