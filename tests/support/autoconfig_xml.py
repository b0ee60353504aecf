"""Autoconfig documents as ISPs publish them, and the path they are served at."""

from __future__ import annotations

ISP_PATH = "/mail/config-v1.1.xml"


# The shape of a real ISPDB file, for a made-up provider: several incoming servers (POP3 and
# IMAP, STARTTLS and TLS), %EMAILLOCALPART%, OAuth2 next to the password, and an oAuth2 block.
EXAMPLE_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <domain>example.net</domain>
    <displayName>Example Mail</displayName>
    <displayShortName>Example</displayShortName>
    <incomingServer type="pop3">
      <hostname>pop.example.com</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
      <pop3>
        <leaveMessagesOnServer>true</leaveMessagesOnServer>
      </pop3>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.com</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="exchange">
      <hostname>outlook.example.com</hostname>
      <port>443</port>
      <username>%EMAILADDRESS%</username>
      <socketType>SSL</socketType>
      <authentication>OAuth2</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <documentation url="https://example.com/help/mail">
      <descr lang="en">Mail settings</descr>
    </documentation>
  </emailProvider>
  <oAuth2>
    <issuer>accounts.example.com</issuer>
    <scope>https://mail.example.com/</scope>
    <authURL>https://accounts.example.com/o/oauth2/auth</authURL>
    <tokenURL>https://accounts.example.com/o/oauth2/token</tokenURL>
  </oAuth2>
</clientConfig>
"""


def config_xml(provider: str, incoming: str, outgoing: str = "") -> bytes:
    """An autoconfig document of `provider` with these server elements."""
    return f"""<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="{provider}">
<displayName>{provider}</displayName>{incoming}{outgoing}
</emailProvider></clientConfig>""".encode()


def server_xml(kind: str, tag: str, host: str, port: int, socket_type: str, *auth: str) -> str:
    """One <incomingServer> or <outgoingServer> element (`tag`) of an autoconfig document."""
    methods = "".join(f"<authentication>{a}</authentication>" for a in auth or ["plain"])
    return (
        f'<{tag} type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
        f"<socketType>{socket_type}</socketType><username>%EMAILADDRESS%</username>"
        f"{methods}</{tag}>"
    )


PLAIN_ONLY_XML = config_xml(
    "plainmail.test",
    server_xml("imap", "incomingServer", "mail.plainmail.test", 143, "plain", "password-cleartext"),
    server_xml("smtp", "outgoingServer", "mail.plainmail.test", 25, "plain", "password-cleartext"),
)
