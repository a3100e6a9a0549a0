# lib.stringsWithDeps (the reference's example) and the module system's property helpers
# (pushDownProperties, dischargeProperties, filterOverrides, sortProperties) on NixOS's
# semantics.
let
  lib = import ../lib;
  inherit (lib) fullDepEntry noDepEntry textClosureMap stringAfter;
  nameA = noDepEntry "Text a";
  nameB = fullDepEntry "Text b" [ "nameA" ];
  nameC = fullDepEntry "Text c" [ "nameA" ];
  stages = {
    nameHeader = noDepEntry "#! /bin/sh \n";
    inherit nameA nameB nameC;
  };
  activation = {
    users = noDepEntry "make users";
    groups = noDepEntry "make groups";
    etc = stringAfter [ "users" "groups" ] "link etc";
  };
in
[
  (textClosureMap (x: x) stages [ "nameHeader" "nameA" "nameB" "nameC" nameC "nameB" ])
  (lib.textClosureList activation [ "etc" "users" ])
  (lib.pushDownProperties (lib.mkMerge [ { a = 1; } (lib.mkIf true { b = 2; }) ]))
  (lib.dischargeProperties (lib.mkMerge [ 1 (lib.mkIf false 2) (lib.mkIf true (lib.mkMerge [ 3 ])) ]))
  (lib.filterOverrides [
    { file = "a.nix"; value = "a"; }
    { file = "b.nix"; value = lib.mkForce "b"; }
    { file = "c.nix"; value = lib.mkOverride 50 "c"; }
    { file = "d.nix"; value = lib.mkDefault "d"; }
  ])
  (map (d: d.value) (lib.sortProperties [
    { file = "a.nix"; value = "a"; }
    { file = "b.nix"; value = lib.mkAfter "b"; }
    { file = "c.nix"; value = lib.mkBefore "c"; }
  ]))
]
