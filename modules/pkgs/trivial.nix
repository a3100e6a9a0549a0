# The trivial builders: derivations that write a file, run a short script or merge trees of
# symlinks, with a static busybox as their only tool.
#
# `busybox` is a store path (or a derivation) whose `bin/busybox` is a static busybox. Busybox
# picks its applet by the base name of argv[0], and a `#!` line hands the interpreter's own
# path to it as argv[0], so the scripts these builders make run under `shell`: a directory of
# symlinks named after busybox's applets (`bin/sh`, `bin/ln`, ...).
{ busybox, system ? "x86_64-linux" }:

let
  busyboxBin = "${busybox}/bin/busybox";

  # `bin/<applet>` -> busybox, for every applet busybox has.
  shell = derivation {
    name = "busybox-shell";
    inherit system;
    builder = busyboxBin;
    args = [
      "sh"
      "-e"
      "-c"
      ''
        ${busyboxBin} mkdir -p "$out/bin"
        for applet in $(${busyboxBin} --list); do
          ${busyboxBin} ln -s ${busyboxBin} "$out/bin/$applet"
        done
      ''
    ];
  };

  sh = "${shell}/bin/sh";

  # Runs `script` with `sh -e`, the applets on PATH and the attributes of `env` in the
  # environment. The script itself reaches the builder as a file, so its size is not bound
  # by the kernel's limit on one argument.
  runCommand = name: env: script:
    let
      passAsFile = [ "buildCommand" ] ++ (env.passAsFile or [ ]);
    in
    derivation (
      { PATH = "${shell}/bin"; }
      // env
      // {
        inherit name system passAsFile;
        builder = sh;
        args = [ "-e" "-c" ''. "$buildCommandPath"'' ];
        buildCommand = script;
      }
    );

  writeTextFile =
    { name
    , text
    , executable ? false
    , destination ? ""
    }:
    if destination != "" && builtins.substring 0 1 destination != "/" then
      throw "writeTextFile: destination '${destination}' of '${name}' must start with '/'"
    else
      runCommand name
        {
          inherit text executable destination;
          passAsFile = [ "text" ];
          preferLocalBuild = true;
          allowSubstitutes = false;
        }
        ''
          target="$out$destination"
          if [ -n "$destination" ]; then
            mkdir -p "$(dirname "$target")"
          fi
          cat "$textPath" > "$target"
          if [ -n "$executable" ]; then
            chmod +x "$target"
          fi
        '';

  writeText = name: text: writeTextFile { inherit name text; };

  writeScript = name: text: writeTextFile {
    inherit name text;
    executable = true;
  };

  shellScriptText = text: ''
    #!${sh}
    ${text}'';

  writeShellScript = name: text: writeTextFile {
    inherit name;
    text = shellScriptText text;
    executable = true;
  };

  writeShellScriptBin = name: text: writeTextFile {
    inherit name;
    text = shellScriptText text;
    executable = true;
    destination = "/bin/${name}";
  };

  # Merges the trees `paths` (below each of `pathsToLink`) into real directories holding
  # symlinks to the files. With `onCollision = "first"` the first path having a file wins;
  # with "error" two different files at one place are an error naming both (files with the
  # same contents are not a collision).
  linkTrees = { name, paths, pathsToLink, onCollision, postBuild, extraEnv ? { } }:
    runCommand name
      (extraEnv // {
        inherit paths pathsToLink onCollision postBuild;
        passAsFile = [ "postBuild" ];
        preferLocalBuild = true;
        allowSubstitutes = false;
      })
      ''
        collision() {
          if [ "$onCollision" = first ]; then
            return 0
          fi
          if [ -f "$1" ] && [ -f "$2" ] && cmp -s "$1" "$2"; then
            return 0
          fi
          echo "collision between '$1' and '$2'" >&2
          exit 1
        }

        # link_tree SRC DST: DST is a real directory.
        link_tree() {
          local src="$1" dst="$2" entry base target
          for entry in "$src"/* "$src"/.[!.]* "$src"/..?*; do
            if [ ! -e "$entry" ] && [ ! -L "$entry" ]; then
              continue
            fi
            base="''${entry##*/}"
            target="$dst/$base"
            if [ -d "$entry" ] && [ ! -L "$entry" ]; then
              if [ -L "$target" ] || { [ -e "$target" ] && [ ! -d "$target" ]; }; then
                collision "$(readlink -f "$target")" "$entry"
                continue
              fi
              mkdir -p "$target"
              link_tree "$entry" "$target"
            elif [ -L "$target" ]; then
              collision "$(readlink "$target")" "$entry"
            elif [ -e "$target" ]; then
              collision "$target" "$entry"
            else
              ln -s "$entry" "$target"
            fi
          done
        }

        mkdir -p "$out"
        for path in $paths; do
          for sub in $pathsToLink; do
            sub="''${sub%/}"
            if [ -d "$path$sub" ]; then
              mkdir -p "$out$sub"
              link_tree "$path$sub" "$out$sub"
            fi
          done
        done
        . "$postBuildPath"
      '';

  # Like nixpkgs' symlinkJoin: the first path with a file wins.
  symlinkJoin =
    { name
    , paths
    , postBuild ? ""
    , ...
    }@args:
    linkTrees {
      inherit name paths postBuild;
      pathsToLink = [ "/" ];
      onCollision = "first";
      extraEnv = builtins.removeAttrs args [ "name" "paths" "postBuild" ];
    };

  # Like nixpkgs' buildEnv: two different files at one place are an error unless
  # `ignoreCollisions` is set.
  buildEnv =
    { name
    , paths
    , pathsToLink ? [ "/" ]
    , ignoreCollisions ? false
    , postBuild ? ""
    }:
    linkTrees {
      inherit name paths pathsToLink postBuild;
      onCollision = if ignoreCollisions then "first" else "error";
    };
in
{
  inherit
    shell
    runCommand
    writeTextFile
    writeText
    writeScript
    writeShellScript
    writeShellScriptBin
    symlinkJoin
    buildEnv
    ;
}
