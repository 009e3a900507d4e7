#!/usr/bin/python3
"""A scripted OMEMO 0.3 client for interop tests: Debian's python3-omemo
with python3-oldmemo (eu.siacs.conversations.axolotl) on slixmpp.

Usage: omemo_client.py JID PASSWORD HOST PORT STATEFILE CAFILE

It publishes its device list and bundle (access model open), then prints
one JSON line per event on stdout:
  {"ready": DEVICE_ID, "fingerprint": "..."}
  {"from": BAREJID, "sid": N, "body": "..."}           a decrypted message
  {"from": BAREJID, "error": "..."}                    one it could not open
  {"from": BAREJID, "duplicate": ID}                   a copy of a stanza id already seen
                                                       (clients drop those before decrypting)
Lines on stdin are commands:
  {"send": BAREJID, "body": "..."}                     encrypt and send
  {"quit": true}
State (identity, sessions) persists in STATEFILE, so a second run is the
same device and another STATEFILE is a second device.
"""

import asyncio
import json
import logging
import os
import ssl
import sys
import xml.etree.ElementTree as ET

import omemo
import oldmemo
import oldmemo.etree
import slixmpp
from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, TrustLevel
from slixmpp.plugins.xep_0004 import Form
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

NS = "eu.siacs.conversations.axolotl"
DEVICELIST = NS + ".devicelist"
BUNDLES = NS + ".bundles:"


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class FileStorage(Storage):
    def __init__(self, path):
        super().__init__()
        self.path = path
        self.data = {}
        if os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)

    def _flush(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path)

    async def _load(self, key):
        if key in self.data:
            return Just(self.data[key])
        return Nothing()

    async def _store(self, key, value):
        self.data[key] = value
        self._flush()

    async def _delete(self, key):
        self.data.pop(key, None)
        self._flush()


def open_options():
    form = Form()
    form["type"] = "submit"
    form.add_field(var="FORM_TYPE", ftype="hidden",
                   value="http://jabber.org/protocol/pubsub#publish-options")
    form.add_field(var="pubsub#access_model", value="open")
    return form


class Manager(omemo.SessionManager):
    xmpp = None

    async def _upload_bundle(self, bundle):
        elt = oldmemo.etree.serialize_bundle(bundle)
        await self.xmpp["xep_0060"].publish(
            self.xmpp.boundjid.bare, BUNDLES + str(bundle.device_id), id="current",
            payload=elt, options=open_options())

    async def _download_bundle(self, namespace, bare_jid, device_id):
        try:
            iq = await self.xmpp["xep_0060"].get_items(bare_jid, BUNDLES + str(device_id), max_items=1)
            item = next(iter(iq["pubsub"]["items"]))
            elt = item.xml.find("{%s}bundle" % NS)
            return oldmemo.etree.parse_bundle(elt, bare_jid, device_id)
        except Exception as e:
            raise omemo.BundleDownloadFailed(str(e)) from e

    async def _delete_bundle(self, namespace, device_id):
        pass

    async def _upload_device_list(self, namespace, device_list):
        elt = oldmemo.etree.serialize_device_list(device_list)
        await self.xmpp["xep_0060"].publish(
            self.xmpp.boundjid.bare, DEVICELIST, id="current", payload=elt, options=open_options())

    async def _download_device_list(self, namespace, bare_jid):
        try:
            iq = await self.xmpp["xep_0060"].get_items(bare_jid, DEVICELIST, max_items=1)
        except slixmpp.exceptions.IqError as e:
            if e.condition == "item-not-found":
                return {}
            raise omemo.DeviceListDownloadFailed(str(e)) from e
        items = list(iq["pubsub"]["items"])
        if not items:
            return {}
        elt = items[0].xml.find("{%s}list" % NS)
        return oldmemo.etree.parse_device_list(elt)

    async def _evaluate_custom_trust_level(self, device):
        return TrustLevel.TRUSTED  # blind trust (tests)

    async def _make_trust_decision(self, undecided, identifier):
        pass

    async def _send_message(self, message, bare_jid):
        msg = self.xmpp.make_message(mto=bare_jid, mtype="chat")
        msg.xml.append(oldmemo.etree.serialize_message(message))
        msg.send()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, state):
        super().__init__(jid, password)
        self.state = state
        self.manager = None
        self.seen = set()  # stanza ids: a redelivered copy is not decrypted twice
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0060")
        self.add_event_handler("session_start", self.start)
        # slixmpp's "message" event needs a <body>; OMEMO messages may have
        # none, so match the <encrypted/> child itself.
        self.register_handler(CoroutineCallback(
            "OMEMO", MatchXPath("{jabber:client}message/{%s}encrypted" % NS), self.on_message))

    async def start(self, _):
        self.send_presence()
        Manager.xmpp = self
        self.manager = await Manager.create(
            [oldmemo.Oldmemo(FileStorage(self.state + ".oldmemo"))],
            FileStorage(self.state), self.boundjid.bare, None, "trusted",
            async_framework=omemo.AsyncFramework.ASYNCIO)
        own, _ = await self.manager.get_own_device_information()
        out({"ready": own.device_id,
             "fingerprint": " ".join(self.manager.format_identity_key(own.identity_key))})
        asyncio.ensure_future(self.commands())

    async def on_message(self, msg):
        enc = msg.xml.find("{%s}encrypted" % NS)
        if enc is None or self.manager is None:
            return
        sender = msg["from"].bare
        key = (sender, msg["id"])
        if msg["id"] and key in self.seen:
            out({"from": sender, "duplicate": msg["id"]})
            return
        self.seen.add(key)
        log = logging.getLogger("omemotest")
        log.debug("encrypted message from %s", sender)
        try:
            m = await oldmemo.etree.parse_message(enc, sender, self.boundjid.bare, self.manager)
            log.debug("parsed")
            body, device, _ = await self.manager.decrypt(m)
            if body is None:
                out({"from": sender, "sid": device.device_id, "keytransport": True})
            else:
                out({"from": sender, "sid": device.device_id, "body": body.decode("utf-8")})
        except Exception as e:
            out({"from": sender, "error": "%s: %s" % (type(e).__name__, e)})

    async def commands(self):
        loop = asyncio.get_event_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            logging.getLogger("omemotest").debug("command %s", cmd)
            if cmd.get("quit"):
                break
            if "send" in cmd:
                try:
                    # As a client opening a chat: fetch the contact's
                    # device list (no PEP +notify subscription here).
                    await self.manager.refresh_device_list(NS, cmd["send"])
                    msgs, errs = await self.manager.encrypt(
                        frozenset([cmd["send"]]), {NS: cmd["body"].encode("utf-8")})
                    for m in msgs:
                        stanza = self.make_message(mto=cmd["send"], mtype="chat")
                        stanza.xml.append(oldmemo.etree.serialize_message(m))
                        stanza["body"] = "OMEMO"
                        stanza.send()
                    out({"sent": cmd["send"], "errors": [str(e) for e in errs]})
                except Exception as e:
                    out({"send_error": "%s: %s" % (type(e).__name__, e)})
        self.disconnect()


def main():
    jid, password, host, port, state, cafile = sys.argv[1:7]
    logging.basicConfig(level=logging.DEBUG if os.environ.get("OMEMOTEST_DEBUG") else logging.WARNING, stream=sys.stderr)
    c = Client(jid, password, state)
    c.ssl_context = ssl.create_default_context(cafile=cafile)
    c.connect((host, int(port)))
    c.process(forever=False)


if __name__ == "__main__":
    main()
