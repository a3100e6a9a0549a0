# NixOS's locale and console settings. Locales: `i18n.supportedLocales` are compiled at build
# time with Debian's `localedef` (in the sandbox's FHS mode over the `locales` and `libc-bin`
# packages) into the generation's /usr/lib/locale, one directory a locale (glibc reads them
# without a locale archive, and directories are reproducible); `i18n.defaultLocale` and
# `i18n.extraLocaleSettings` become LANG and LC_* in /etc/default/locale (which PAM reads for
# logins) and /etc/profile.
#
# The console: `console.keyMap` (a keymap name of Debian's console-data, or a keymap file) is
# compiled at build time by Debian's `loadkeys -b` (package kbd, in the sandbox's FHS mode)
# into a binary keymap, which the activation manifest names (`consoleKeyMap`) and stage 2
# loads into the kernel at boot. `us` is the kernel's own layout: nothing is built. The font
# and the other console settings are not acted on yet.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  noConsole = "strata does not set the console's font or take its layout from X11's settings.";
  cfg = config.i18n;
  ccfg = config.console;

  # A keymap name as loadkeys looks it up below /usr/share/keymaps (de-latin1, fr_CH,
  # us-intl.iso01, mac-usb-de-latin1-nodeadkeys): no `/', nothing a shell or a file name
  # would misread.
  keyMapName = types.strMatching "[A-Za-z0-9][A-Za-z0-9_.+-]*";

  # The keymap the system loads at boot: none for the kernel's own (us).
  keyMapSource =
    if builtins.isPath ccfg.keyMap || !(builtins.isString ccfg.keyMap) then "${ccfg.keyMap}"
    else if lib.hasPrefix "/" ccfg.keyMap && !(lib.hasPrefix (builtins.storeDir + "/") ccfg.keyMap) then
      throw "console.keyMap: ${ccfg.keyMap} is outside the store, where the build cannot read it; give a Nix path (./my.kmap, which is copied into the store) or a keymap name such as de-latin1"
    else ccfg.keyMap;
  keyMap = pkgs.runCommand "console-keymap"
    {
      # loadkeys reads the compressed keymaps through `gzip -d -c` run by /bin/sh.
      __strataFhs = pkgs.debianTools [ "kbd" "console-data" "gzip" "dash" ];
      keyMap = keyMapSource;
    }
    ''
      if /usr/bin/loadkeys -b "$keyMap" > "$out" 2> /build/loadkeys.log; then
        exit 0
      fi
      cat /build/loadkeys.log >&2
      case "$keyMap" in
        /*)
          echo "console.keyMap: loadkeys cannot compile the keymap $keyMap (its messages are above)" >&2
          exit 1 ;;
      esac
      # The names console-data has with the name's first word: first those it starts, then
      # those it is a word of.
      find /usr/share/keymaps -name '*.kmap.gz' | sed 's,.*/,,; s,[.]kmap[.]gz$,,' | sort -u > /build/names
      first=''${keyMap%%[-_.]*}
      close=$(awk -v f="$first" '
        BEGIN { f = tolower(f) }
        { n = tolower($0); l = length(n) - length(f) }
        n == f || index(n, f "-") == 1 || index(n, f "_") == 1 { a = a " " $0; next }
        index(n, "-" f "-") || index(n, "_" f "-") || (l > 0 && (substr(n, l) == "-" f || substr(n, l) == "_" f)) { b = b " " $0 }
        END { print a b }' /build/names | tr ' ' '\n' | grep . | head -n 12 | tr '\n' ' ' | sed 's/ $//')
      if grep -q -x -F -- "$keyMap" /build/names; then
        echo "console.keyMap: loadkeys cannot compile the keymap $keyMap (its messages are above)" >&2
      elif [ -n "$close" ]; then
        echo "console.keyMap: Debian's console-data has no keymap \`$keyMap'; close names: $close" >&2
      else
        echo "console.keyMap: Debian's console-data has no keymap \`$keyMap' (its keymaps are the .kmap.gz files below /usr/share/keymaps)" >&2
      fi
      exit 1
    '';

  # A locale name: language[_territory][.codeset][@modifier].
  localeName = types.strMatching "[A-Za-z]+(_[A-Za-z]+)?([.][A-Za-z0-9-]+)?(@[A-Za-z0-9]+)?";
  # An entry of supportedLocales: `<locale>/<charset>`, as /etc/locale.gen and NixOS write it.
  supportedLocale = types.strMatching "[A-Za-z]+(_[A-Za-z]+)?([.][A-Za-z0-9-]+)?(@[A-Za-z0-9]+)?/[A-Za-z0-9-]+";

  # glibc looks a locale up with its codeset normalised: lower case, only letters and digits
  # (de_DE.UTF-8 -> de_DE.utf8).
  normalise = name:
    let
      m = builtins.match "([^.@]+)([.]([^@]+))?(@(.+))?" name;
      base = builtins.elemAt m 0;
      codeset = builtins.elemAt m 2;
      modifier = builtins.elemAt m 4;
      clean = c: lib.toLower (lib.concatStrings (builtins.filter (x: builtins.isString x && builtins.match "[A-Za-z0-9]" x != null) (lib.stringToCharacters c)));
    in
    base + (if codeset == null then "" else "." + clean codeset) + (if modifier == null then "" else "@" + modifier);

  # C.UTF-8 is glibc's own (libc-bin ships it); the others are compiled.
  compiled = builtins.filter (l: !(lib.hasPrefix "C." l || lib.hasPrefix "POSIX" l)) (lib.unique cfg.supportedLocales);
  entries = map (l:
    let
      parts = lib.splitString "/" l;
      name = builtins.head parts;
      charset = builtins.elemAt parts 1;
      input = builtins.head (builtins.match "([^.@]+)([.][^@]*)?(@.+)?" name)
        + (let m = builtins.elemAt (builtins.match "([^.@]+)([.][^@]*)?(@.+)?" name) 2; in if m == null then "" else m);
    in "${input} ${charset} ${normalise name}") compiled;

  locales = pkgs.runCommand "locales"
    {
      __strataFhs = pkgs.debianTools [ "locales" "libc-bin" ];
      entries = lib.concatMapStrings (e: e + "\n") entries;
      passAsFile = [ "entries" ];
    }
    ''
      mkdir -p "$out/usr/lib/locale"
      while read -r input charset dir; do
        [ -n "$input" ] || continue
        if [ ! -f "/usr/share/i18n/locales/$input" ]; then
          echo "i18n.supportedLocales: Debian's locales package has no locale $input" >&2
          exit 1
        fi
        if [ ! -f "/usr/share/i18n/charmaps/$charset.gz" ] && [ ! -f "/usr/share/i18n/charmaps/$charset" ]; then
          echo "i18n.supportedLocales: Debian's locales package has no character set $charset" >&2
          exit 1
        fi
        /usr/bin/localedef --no-archive -c -i "$input" -f "$charset" "$out/usr/lib/locale/$dir" \
          || [ -f "$out/usr/lib/locale/$dir/LC_CTYPE" ]
      done < "$entriesPath"
    '';

  settings = { LANG = cfg.defaultLocale; } // cfg.extraLocaleSettings;
in
{
  options.i18n = {
    defaultLocale = mkOption {
      type = localeName;
      default = "en_US.UTF-8";
      example = "de_DE.UTF-8";
      description = "The locale of the system: LANG of login sessions (/etc/default/locale, /etc/profile). It is compiled into the system (supportedLocales has it by default).";
    };
    extraLocaleSettings = mkOption {
      type = types.attrsNamedOf (types.strMatching "LC_[A-Z]+|LANGUAGE") types.str;
      default = { };
      example = { LC_TIME = "de_DE.UTF-8"; };
      description = "Further locale variables (LC_*, LANGUAGE) of login sessions.";
    };
    supportedLocales = mkOption {
      type = types.listOf supportedLocale;
      # The default locale and the ones extraLocaleSettings names, as `locale/charset`.
      default = lib.unique (map (l: "${l}/UTF-8")
        ([ "C.UTF-8" "en_US.UTF-8" cfg.defaultLocale ] ++ builtins.attrValues (removeAttrs cfg.extraLocaleSettings [ "LANGUAGE" ])));
      defaultText = lib.literalExpression ''[ "C.UTF-8/UTF-8" "en_US.UTF-8/UTF-8" ] plus config.i18n.defaultLocale and the locales of extraLocaleSettings'';
      example = [ "de_DE.UTF-8/UTF-8" "fr_FR.ISO-8859-1/ISO-8859-1" ];
      description = "The locales compiled into the system (/usr/lib/locale), as `<locale>/<character set>'; Debian's `locales' package must have both.";
    };
  };
  config = {
    environment.systemPackages = lib.optional (pkgs ? debianTools && compiled != [ ]) locales;
    environment.etc."default/locale".text =
      lib.concatStrings (lib.mapAttrsToList (n: v: "${n}=${v}\n") settings);
    environment.variables = lib.mapAttrs (n: lib.mkDefault) settings;
    console.keyMapFile = lib.mkIf (ccfg.keyMap != "us" && pkgs ? debianTools) keyMap;
  };
  options.console = {
    keyMap = mkOption {
      type = types.either keyMapName types.path;
      default = "us";
      example = "de-latin1";
      description = "The keyboard layout of the virtual consoles: the name of a keymap of Debian's console-data (de-latin1, fr, uk, dvorak, ...) or a keymap file (a Nix path), compiled at build time and loaded at boot. An unknown name fails the build naming it. The layout changes at the next boot, not at a switch.";
    };
    keyMapFile = mkOption {
      type = types.nullOr types.package;
      default = null;
      internal = true;
      description = "strata: the binary keymap (loadkeys -b) of console.keyMap that stage 2 loads; null for the kernel's own layout (us).";
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
