# NixOS's locale and console settings. strata does not act on them yet: the machine uses the
# C library's built-in locales and the kernel's console font and keyboard layout.
{ config, lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noLocales = "strata does not generate locales or set LANG.";
  noConsole = "strata does not set the console's keyboard layout or font.";
  cfg = config.i18n;
in
{
  options.i18n = {
    defaultLocale = mkUnsupportedOption {
      type = types.str;
      default = "en_US.UTF-8";
      example = "de_DE.UTF-8";
      yet = true;
      description = "The locale of the system (LANG).";
      reason = noLocales;
    };
    extraLocaleSettings = mkUnsupportedOption {
      type = types.attrsOf types.str;
      default = { };
      example = { LC_TIME = "de_DE.UTF-8"; };
      yet = true;
      description = "Further locale variables (LC_*) of the system.";
      reason = noLocales;
    };
    supportedLocales = mkUnsupportedOption {
      type = types.listOf types.str;
      # The default locale and the ones extraLocaleSettings names, as `locale/charset`.
      default = lib.unique (map (l: "${l}/UTF-8")
        ([ "C.UTF-8" "en_US.UTF-8" cfg.defaultLocale ] ++ builtins.attrValues (removeAttrs cfg.extraLocaleSettings [ "LANGUAGE" ])));
      defaultText = lib.literalExpression ''[ "C.UTF-8/UTF-8" "en_US.UTF-8/UTF-8" ] plus config.i18n.defaultLocale and the locales of extraLocaleSettings'';
      yet = true;
      description = "The locales built into the system's locale archive.";
      reason = noLocales;
    };
  };
  options.console = {
    keyMap = mkUnsupportedOption {
      type = types.either types.str types.path;
      default = "us";
      example = "fr";
      yet = true;
      description = "The keyboard layout of the virtual consoles.";
      reason = noConsole;
    };
    font = mkUnsupportedOption {
      type = types.nullOr (types.either types.str types.path);
      default = null;
      example = "Lat2-Terminus16";
      yet = true;
      description = "The font of the virtual consoles; null keeps the kernel's.";
      reason = noConsole;
    };
    useXkbConfig = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether the consoles take their keyboard layout from services.xserver.xkb.";
      reason = noConsole;
    };
    earlySetup = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether the initrd sets the console's font and layout.";
      reason = noConsole;
    };
  };
}
