# IP addresses: nixpkgs' `lib.network` (IPv6 in RFC 4291's first two text forms; the form
# ending in an IPv4 address is refused).
{ lib }:
let
  inherit (builtins) length elemAt genList match bitAnd;

  pow2 = n: builtins.foldl' (x: _: x * 2) 1 (genList (i: i) n);

  # "2001:DB8::ffff/64" -> { groups = [ 8 numbers ]; prefixLength = 64; }
  parse = text:
    let
      parts = lib.splitString "/" text;
      addr = builtins.head parts;
      prefixLength =
        if length parts == 1 then 128
        else if length parts == 2 && match "[0-9]{1,3}" (elemAt parts 1) != null && lib.toInt (elemAt parts 1) <= 128
        then lib.toInt (elemAt parts 1)
        else throw "lib.network.ipv6: ${builtins.toJSON text} has no valid prefix length (0 to 128)";
      halves = lib.splitString "::" addr;
      groupsOf = h: if h == "" then [ ] else lib.splitString ":" h;
      number = g:
        if match "[0-9a-fA-F]{1,4}" g != null then lib.fromHexString g
        else throw "lib.network.ipv6: ${builtins.toJSON text} has an invalid group ${builtins.toJSON g}";
      left = groupsOf (builtins.head halves);
      right = if length halves == 2 then groupsOf (elemAt halves 1) else [ ];
      missing = 8 - length left - length right;
      groups =
        if length halves > 2 then throw "lib.network.ipv6: ${builtins.toJSON text} has more than one `::'"
        else if length halves == 1 && length left != 8 then throw "lib.network.ipv6: ${builtins.toJSON text} does not have 8 groups"
        else if length halves == 2 && missing < 1 then throw "lib.network.ipv6: ${builtins.toJSON text} has too many groups"
        else map number (left ++ genList (_: "0") (if length halves == 2 then missing else 0) ++ right);
    in { inherit groups prefixLength; };

  make = groups: prefixLength:
    let
      address = lib.concatMapStringsSep ":" (g: lib.toLower (lib.toHexString g)) groups;
      url = "[${address}]";
    in {
      _address = groups;
      inherit address prefixLength url;
      addressCidr = "${address}/${toString prefixLength}";
      urlWithPort = port: "${url}:${toString port}";
    };

  # How many of group `i`'s 16 bits the prefix covers.
  covered = prefixLength: i: lib.max 0 (lib.min 16 (prefixLength - 16 * i));
  first = groups: prefixLength:
    lib.imap0 (i: g: bitAnd g (65536 - pow2 (16 - covered prefixLength i))) groups;
  last = groups: prefixLength:
    lib.imap0 (i: g: bitAnd g (65536 - pow2 (16 - covered prefixLength i)) + pow2 (16 - covered prefixLength i) - 1) groups;
  # The address plus one, carrying from the last group; null past ffff:...:ffff.
  increment = groups:
    let
      step = acc: g:
        let v = g + acc.carry; in
        { carry = if v > 65535 then 1 else 0; out = [ (if v > 65535 then 0 else v) ] ++ acc.out; };
      done = builtins.foldl' step { carry = 1; out = [ ]; } (lib.reverseList groups);
    in if done.carry == 1 then null else done.out;
in
{
  network.ipv6 = {
    fromString = text: let p = parse text; in make p.groups p.prefixLength;
    isValidIpStr = text: (builtins.tryEval (builtins.deepSeq (parse text) true)).success;
    firstAddress = a: make (first a._address a.prefixLength) a.prefixLength;
    lastAddress = a: make (last a._address a.prefixLength) a.prefixLength;
    nextAddress = a:
      let next = increment a._address; in
      if a._address == last a._address a.prefixLength || next == null then null else make next a.prefixLength;
  };
}
