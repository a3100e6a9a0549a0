# lib.fixedPoints, lib.meta and the search paths: the reference documentation's examples.
let
  lib = import ../lib;
  inherit (lib) fix extends;
  f = final: { a = 1; b = final.a + 2; };
  obj = lib.makeExtensible (final: { a = 1; b = final.a + 1; });
  o2 = obj.extend (final: prev: { a = 10; });
  plain = x: removeAttrs x [ "extend" "__unfix__" ];
  g = lib.composeExtensions (final: prev: { x = "foo"; y = "bar"; }) (final: prev: { y = "baz"; z = prev.y; });
  pkg = {
    type = "derivation";
    name = "hello-2.12";
    outPath = "/nix/store/00000000000000000000000000000000-hello-2.12";
    meta.mainProgram = "hello";
  };
in
[
  (fix f)
  (fix (extends (final: prev: { a = prev.a + 10; }) f))
  (fix (extends (final: prev: { b = final.a + 5; }) f))
  (fix (extends (final: prev: { c = final.a + final.b; }) f))
  (fix (extends g (final: { })))
  (fix (extends (lib.composeManyExtensions [ (final: prev: { n = 1; }) (final: prev: { n = prev.n + 1; }) ]) (final: { })))
  (plain obj)
  (plain o2)
  (plain ((o2.extend (final: prev: { c = final.b * 2; })).extend (final: prev: { })))
  (lib.converge (x: x / 2) 16)
  (fix (extends (lib.toExtension { b = 2; }) (final: { a = 1; })))
  (fix (extends (lib.toExtension (prev: { a = prev.a + 1; })) (final: { a = 1; })))
  (lib.getExe pkg)
  (lib.getExe' pkg "hello-wrapped")
  (lib.makeBinPath [ "/root" "/usr" "/usr/local" ])
  (lib.makeLibraryPath [ "/usr" "/usr/local" ])
  (lib.makeSearchPath "bin" [ "/root" "/usr" "/usr/local" ])
  (lib.makeSearchPathOutput "bin" "bin" [ { out = "/o"; bin = "/b"; } { out = "/p"; } ])
  (lib.lowPrio pkg).meta.priority
  (lib.hiPrio pkg).meta.priority
  (lib.getName "youtube-dl-2016.01.01")
  (lib.getVersion "youtube-dl-2016.01.01")
  (lib.getName pkg)
  (lib.assertMsg true "never shown")
  ((builtins.tryEval (lib.assertMsg false "shown")).success)
  (lib.assertOneOf "foo" "bar" [ "bar" "baz" ])
  (lib.traceVal 5)
  (lib.traceSeq { a = 1; } "after")
]
