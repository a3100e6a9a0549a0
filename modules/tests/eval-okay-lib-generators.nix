# lib.generators: the examples of nixpkgs' reference documentation.
let
  lib = import ../lib;
  inherit (lib) generators isString;
  customToINI = generators.toINI {
    mkKeyValue = generators.mkKeyValueDefault {
      mkValueString = v:
        if v == true then ''"yes"''
        else if v == false then ''"no"''
        else if isString v then ''"${v}"''
        else generators.mkValueStringDefault { } v;
    } ":";
  };
  hello = "/nix/store/y93qql1p5ggfnaqjjqhxcw0vqw95rlz0-hello-2.10";
in
[
  (generators.mkKeyValueDefault { } ":" "f:oo" "bar")
  (generators.toKeyValue { } { key = "value"; "other=key" = "baz"; })
  (generators.toKeyValue { listsAsDuplicateKeys = true; } { a = [ 1 2 ]; b = "c"; })
  (generators.toINI { } {
    foo = { hi = hello; ciao = "bar"; };
    baz = { "also, integers" = 42; };
  })
  (customToINI {
    main = { pushinfo = true; autopush = false; host = "localhost"; port = 42; "str:ange" = "very::strange"; };
    mergetool = { merge = "diff3"; };
  })
  (generators.toINIWithGlobalSection { } {
    globalSection = { someGlobalKey = "hi"; };
    sections = { foo = { hi = hello; ciao = "bar"; }; baz = { "also, integers" = 42; }; };
  })
  (generators.toGitINI {
    url."ssh://git@github.com/".insteadOf = "https://github.com";
    user.name = "edolstra";
  })
  (generators.toJSON { } { a = [ 1 "b" ]; })
  (generators.toYAML { } { a = [ 1 "b" ]; })
  (generators.mkValueStringDefault { } null)
  (generators.mkValueStringDefault { } true)
  (generators.mkValueStringDefault { } 42)
  (generators.toPretty { } { a = 1; b = [ "x" null ]; "c d" = { }; })
  (generators.toPretty { multiline = false; } [ 1 "a" null true [ ] ])
  (generators.toPretty { } "two\nlines")
]
