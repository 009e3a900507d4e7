-- Prosody for docker-compose.yml: one domain, the Passerelle component,
-- PEP keys readable by the gateway (XEP-0373 §4.1 open access model).
pidfile = "/var/run/prosody/prosody.pid"
data_path = "/var/lib/prosody"
log = { info = "*console" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "pep", "carbons", "mam", "ping", "register" }
allow_registration = false
c2s_require_encryption = false
authentication = "internal_hashed"
component_ports = { 5347 }
component_interfaces = { "*" }
VirtualHost "example.org"
Component "mail.example.org"
    component_secret = os.getenv("PASSERELLE_COMPONENT_SECRET")
