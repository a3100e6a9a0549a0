# Texts that must come after others (NixOS's activation scripts): nixpkgs'
# `lib.stringsWithDeps`. An entry is `{ text, deps }`, its deps names of other entries.
{ lib }:
let
  inherit (builtins) head tail isAttrs;

  # The texts of the entries `names` stand for, every entry after its dependencies, each
  # named entry once.
  textClosureList = predefined: names:
    let
      # `todo` holds names and entries; `done` the names already placed.
      walk = done: todo:
        if todo == [ ] then { result = [ ]; inherit done; }
        else
          let item = head todo; in
          if isAttrs item then
            let
              before = walk done item.deps;
              after = walk before.done (tail todo);
            in { result = before.result ++ [ item.text ] ++ after.result; inherit (after) done; }
          else if done ? ${item} then walk done (tail todo)
          else walk (done // { ${item} = true; })
            ([ (predefined.${item} or (throw "lib.stringsWithDeps: no entry named ${builtins.toJSON item}")) ] ++ tail todo);
    in (walk { } names).result;

  stringsWithDeps = {
    inherit textClosureList;
    textClosureMap = f: predefined: names:
      builtins.concatStringsSep "\n" (map f (textClosureList predefined names));
    noDepEntry = text: { inherit text; deps = [ ]; };
    fullDepEntry = text: deps: { inherit text deps; };
    packEntry = deps: { inherit deps; text = ""; };
    stringAfter = deps: text: { inherit text deps; };
  };
in
stringsWithDeps // { inherit stringsWithDeps; }
