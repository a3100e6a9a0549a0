# NixOS's `nixpkgs.*`: the platform the system is for (strata builds x86_64-linux systems
# only) and the package set's settings.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  cfg = config.nixpkgs;
  systemOf = p: if builtins.isString p then p else p.system or "(a platform without `system')";
  pkgsConfig = {
    options = {
      allowUnfree = mkOption {
        type = types.bool;
        default = false;
        description = "Whether packages of Debian's `contrib', `non-free' and `non-free-firmware' components may be installed (firmware, microcode and other software that is not free, or that needs such software). Without it, a system that uses one is an evaluation error naming the package.";
      };
      allowBroken = mkUnsupportedOption {
        type = types.bool;
        default = false;
        description = "Whether packages marked broken may be installed.";
        reason = "Debian's archive marks no package broken.";
      };
      permittedInsecurePackages = mkUnsupportedOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Packages marked insecure that may be installed anyway.";
        reason = "Debian's archive marks no package insecure.";
      };
    };
  };
in
{
  options.nixpkgs = {
    hostPlatform = mkOption {
      type = types.either types.str types.attrs;
      default = "x86_64-linux";
      example = "x86_64-linux";
      description = "The platform the system runs on. strata builds x86_64-linux systems only; any other platform is an error.";
    };
    system = mkOption {
      type = types.str;
      default = "x86_64-linux";
      description = "The platform the system runs on (the older name of nixpkgs.hostPlatform). strata builds x86_64-linux systems only; any other platform is an error.";
    };
    config = mkOption {
      type = types.submodule pkgsConfig;
      default = { };
      example = { allowUnfree = true; };
      description = "Settings of the package set.";
    };
  };
  config.assertions = [
    {
      assertion = systemOf cfg.hostPlatform == "x86_64-linux";
      message = "nixpkgs.hostPlatform is `${systemOf cfg.hostPlatform}', but strata builds only x86_64-linux systems.";
    }
    {
      assertion = cfg.system == "x86_64-linux";
      message = "nixpkgs.system is `${cfg.system}', but strata builds only x86_64-linux systems.";
    }
  ];
}
