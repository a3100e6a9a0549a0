# lib.trivial, lib.debug, lib.meta, lib.cli, lib.filesystem and lib.path additions: the
# reference documentation's examples.
let
  lib = import ../lib;
  drv = { type = "derivation"; name = "hello-2.10"; meta.platforms = [ "x86_64-linux" ]; };
in
[
  (lib.defaultTo "default" null)
  (lib.defaultTo "default" "foo")
  (lib.defaultTo "default" false)
  (lib.mapNullable (x: x + 1) null)
  (lib.mapNullable (x: x + 1) 22)
  (lib.warnIfNot true "never shown" 1)
  (lib.versionAtLeast lib.version "23.05")
  (lib.oldestSupportedReleaseIsAtLeast 2311)
  (lib.trivial.flip lib.concat [ 1 ] [ 2 ])
  (lib.trivial.pipe 2 [ (x: x + 2) (x: x * 2) ])
  (lib.splitVersion "1.2.3")
  (lib.add 1 2)
  (lib.lessThan 1 2)
  (lib.runTests {
    testAndOk = { expr = lib.and true false; expected = false; };
    testAndFail = { expr = lib.and true false; expected = true; };
  })
  (lib.runTests {
    tests = [ "testOnlyThis" ];
    testOnlyThis = { expr = 1; expected = 2; };
    testNotThis = { expr = 1; expected = 3; };
  })
  (lib.testAllTrue [ true (1 == 1) ])
  (lib.traceSeqN 2 { a.b.c = 3; } null)
  (lib.traceValSeqN 1 [ 1 ])
  (lib.setName "foo" { name = "bar"; }).name
  (lib.updateName (n: n + "-x") { name = "bar"; }).name
  (lib.appendToName "wrapped" { name = "hello-2.10"; }).name
  (lib.dontDistribute { meta = { }; }).meta
  (lib.mapDerivationAttrset (d: d.name) { a = drv; b = 1; })
  (lib.meta.platformMatch { system = "x86_64-linux"; } "x86_64-linux")
  (lib.meta.platformMatch { system = "x86_64-linux"; parsed.kernel.name = "linux"; } { kernel.name = "linux"; })
  (lib.meta.availableOn { system = "x86_64-linux"; } drv)
  (lib.meta.availableOn { system = "aarch64-linux"; } drv)
  (lib.meta.licensesSpdx.MIT.shortName)
  (lib.cli.toCommandLine (optionName: { option = "-${optionName}"; sep = "="; explicitBool = true; }) {
    v = true;
    verbose = [ true true false null ];
    i = ".bak";
    testsuite = [ "unit" "integration" ];
    e = [ "s/a/b/" "s/b/c/" ];
    n = false;
    data = builtins.toJSON { id = 0; };
  })
  (lib.cli.toCommandLineGNU { } {
    v = true;
    verbose = [ true true false null ];
    i = ".bak";
    testsuite = [ "unit" "integration" ];
    e = [ "s/a/b/" "s/b/c/" ];
    n = false;
    data = builtins.toJSON { id = 0; };
  })
  (lib.cli.toCommandLineShellGNU { } { X = "PUT"; data = "a b"; })
  (lib.filesystem.resolveDefaultNix ./data == ./data/default.nix)
  (lib.filesystem.resolveDefaultNix "/some/dir/")
  (lib.filesystem.resolveDefaultNix ./data/lib.txt == ./data/lib.txt)
  (builtins.attrNames (lib.filesystem.haskellPathsInDir ./cabal))
  (lib.path.hasStorePathPrefix /nix/store/nvl9ic0pj1fpyln3zaqrf4cclbqdfn1j-foo/bar/baz)
  (lib.path.hasStorePathPrefix /nix/store/nvl9ic0pj1fpyln3zaqrf4cclbqdfn1j-foo)
  (lib.path.hasStorePathPrefix /nix/store)
  (lib.path.hasStorePathPrefix /home/user)
]
