# lib.versions, versionOlder/versionAtLeast and lib.cli: the reference documentation's examples.
let lib = import ../lib; in
[
  (lib.versions.splitVersion "1.2.3")
  (lib.versions.major "1.2.3")
  (lib.versions.minor "1.2.3")
  (lib.versions.patch "1.2.3")
  (lib.versions.majorMinor "1.2.3")
  (lib.versions.pad 3 "1.2")
  (lib.versions.pad 3 "1.3-rc1")
  (lib.versions.pad 3 "1.2.3.4")
  (lib.versionOlder "1.1" "1.2")
  (lib.versionOlder "1.1" "1.1")
  (lib.versionAtLeast "1.1" "1.0")
  (lib.versionAtLeast "1.1" "1.1")
  (lib.versionAtLeast "1.1" "1.2")
  (lib.cli.toGNUCommandLine { } {
    data = builtins.toJSON { id = 0; };
    X = "PUT";
    retry = 3;
    retry-delay = null;
    url = [ "https://example.com/foo" "https://example.com/bar" ];
    silent = false;
    verbose = true;
  })
  (lib.cli.toGNUCommandLineShell { } {
    data = builtins.toJSON { id = 0; };
    X = "PUT";
    retry = 3;
    retry-delay = null;
    url = [ "https://example.com/foo" "https://example.com/bar" ];
    silent = false;
    verbose = true;
  })
  (lib.cli.toGNUCommandLine { optionValueSeparator = "="; } { level = 3; v = true; })
]
