{ config, lib, ... }:
{
  options.system.stateVersion = lib.mkOption {
    type = lib.types.str;
    default = "24.11";
    example = "24.11";
    description = "The release whose defaults stateful data (users' IDs, databases) was created with. Set it once, at installation, and leave it. strata records it in each generation's activation manifest, and the default system.label names it.";
  };
  options.system.copySystemConfiguration = lib.mkUnsupportedOption {
    type = lib.types.bool;
    default = false;
    description = "Whether the configuration file is copied into the system (/run/current-system/configuration.nix).";
    reason = "strata does not copy the configuration into the system; images keep it at /etc/strata/configuration.nix.";
  };
  options.system.label = lib.mkOption {
    type = lib.types.strMatching "[a-zA-Z0-9:_\\.-]*";
    default = "strata-${config.system.stateVersion}";
    defaultText = lib.literalExpression ''"strata-''${config.system.stateVersion}"'';
    example = "webserver-v2";
    description = "A label for this generation, shown in the boot menu and in `strata generations list`.";
  };
}
