# lib.network.ipv6: the reference documentation's examples.
let
  lib = import ../lib;
  inherit (lib.network.ipv6) fromString isValidIpStr firstAddress lastAddress nextAddress;
  a = fromString "2001:DB8::ffff/64";
in
[
  (removeAttrs a [ "urlWithPort" "_address" ])
  (a.urlWithPort 80)
  (isValidIpStr "2001:DB8::ffff/64")
  (isValidIpStr "::/")
  (isValidIpStr "1:2:3:4:5:6:7:8:9")
  (isValidIpStr "::1")
  (fromString "::1").addressCidr
  (firstAddress a).address
  (lastAddress a).address
  (nextAddress a).address
  (nextAddress (lastAddress a))
  (nextAddress (fromString "2001:db8::ffff:ffff/64")).address
  (nextAddress (fromString "2001:db8::ffff:ffff/96"))
]
