{ lib, ... }:
{
  options.assertions = lib.mkOption {
    type = lib.types.listOf lib.types.unspecified;
    internal = true;
    default = [ ];
    example = [ { assertion = false; message = "you can't enable this for that reason"; } ];
    description = "Conditions that must hold for the configuration to build; each failing one stops evaluation with its message.";
  };
  options.warnings = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    internal = true;
    default = [ ];
    example = [ "The `foo' service is deprecated and will go away soon!" ];
    description = "Messages shown when the configuration is evaluated.";
  };
}
