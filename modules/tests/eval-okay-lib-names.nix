# Every name of nixpkgs' lib that strata's lib offers, by name space (the names the
# reference documents, less those that need nixpkgs' packages): each list prints the
# names that are missing, so every one must print [ ].
let
  lib = import ../lib;
  missing = set: names: builtins.filter (n: !(builtins.hasAttr n set)) names;
in
{
  top = missing lib [
    "add" "addErrorContext" "attrNames" "concatLists" "deepSeq" "elem" "elemAt" "filter"
    "genericClosure" "genList" "getAttr" "hasAttr" "head" "isAttrs" "isBool" "isInt" "isList"
    "isPath" "isString" "length" "lessThan" "listToAttrs" "pathExists" "readFile"
    "replaceStrings" "seq" "stringLength" "sub" "substring" "tail" "trace" "id" "const" "pipe"
    "concat" "or" "and" "xor" "bitAnd" "bitOr" "bitXor" "bitNot" "boolToString" "mergeAttrs"
    "flip" "defaultTo" "mapNullable" "inNixShell" "isFloat" "min" "max" "importJSON"
    "importTOML" "warn" "warnIf" "warnIfNot" "throwIf" "throwIfNot" "checkListOfEnum" "info"
    "showWarnings" "nixpkgsVersion" "version" "isInOldestRelease"
    "oldestSupportedReleaseIsAtLeast" "mod" "compare" "splitByAndCompare" "functionArgs"
    "setFunctionArgs" "isFunction" "toFunction" "mirrorFunctionArgs" "fromHexString"
    "toHexString" "toBaseDigits" "inPureEvalMode" "fix" "fix'" "converge" "extends"
    "composeExtensions" "composeManyExtensions" "makeExtensible" "makeExtensibleWithCustomName"
    "toExtension" "attrByPath" "hasAttrByPath" "setAttrByPath" "getAttrFromPath" "attrVals"
    "attrValues" "getAttrs" "catAttrs" "filterAttrs" "filterAttrsRecursive" "foldlAttrs"
    "foldAttrs" "collect" "nameValuePair" "mapAttrs" "mapAttrs'" "mapAttrsToList" "attrsToList"
    "concatMapAttrs" "mapAttrsRecursive" "mapAttrsRecursiveCond" "mapAttrsToListRecursive"
    "mapAttrsToListRecursiveCond" "genAttrs" "genAttrs'" "isDerivation" "toDerivation"
    "optionalAttrs" "zipAttrsWithNames" "zipAttrsWith" "zipAttrs" "recursiveUpdateUntil"
    "recursiveUpdate" "matchAttrs" "mergeAttrsList" "overrideExisting" "showAttrPath"
    "getOutput" "getFirstOutput" "getBin" "getLib" "getStatic" "getDev" "getInclude" "getMan"
    "chooseDevOutputs" "zipWithNames" "zip" "recurseIntoAttrs" "dontRecurseIntoAttrs"
    "cartesianProduct" "cartesianProductOfSets" "mapCartesianProduct" "updateManyAttrsByPath"
    "intersectAttrs" "removeAttrs" "singleton" "forEach" "map" "foldr" "fold" "foldl" "foldl'"
    "imap0" "imap1" "ifilter0" "concatMap" "flatten" "remove" "findSingle" "findFirst" "any"
    "all" "count" "optional" "optionals" "toList" "range" "replicate" "partition"
    "zipListsWith" "zipLists" "reverseList" "listDfs" "toposort" "sort" "sortOn" "naturalSort"
    "compareLists" "take" "drop" "dropEnd" "sublist" "last" "init" "crossLists" "unique"
    "uniqueStrings" "allUnique" "intersectLists" "subtractLists" "mutuallyExclusive" "groupBy"
    "groupBy'" "findFirstIndex" "concatStrings" "concatMapStrings" "concatImapStrings"
    "replaceString" "intersperse" "concatStringsSep" "concatMapStringsSep"
    "concatMapAttrsStringSep" "concatImapStringsSep" "concatLines" "makeSearchPath"
    "makeSearchPathOutput" "makeLibraryPath" "makeIncludePath" "makeBinPath" "optionalString"
    "hasInfix" "hasPrefix" "hasSuffix" "stringToCharacters" "stringAsChars" "escape"
    "escapeShellArg" "escapeShellArgs" "isStorePath" "isStringLike" "isValidPosixName"
    "toShellVar" "toShellVars" "trim" "trimWith" "escapeRegex" "escapeURL" "escapeXML"
    "replaceChars" "lowerChars" "upperChars" "toLower" "toUpper" "toCamelCase" "toSentenceCase"
    "addContextFrom" "splitString" "splitStringBy" "removePrefix" "removeSuffix" "versionOlder"
    "versionAtLeast" "getName" "getVersion" "match" "split" "cmakeOptionType" "cmakeBool"
    "cmakeFeature" "mesonOption" "mesonBool" "mesonEnable" "nameFromURL" "enableFeature"
    "enableFeatureAs" "withFeature" "withFeatureAs" "fixedWidthString" "fixedWidthNumber"
    "toInt" "toIntBase10" "readPathsFromFile" "fileContents" "textClosureList" "textClosureMap"
    "noDepEntry" "fullDepEntry" "packEntry" "stringAfter" "mkLuaInline" "addMetaAttrs"
    "dontDistribute" "setName" "updateName" "appendToName" "mapDerivationAttrset" "setPrio"
    "lowPrio" "lowPrioSet" "hiPrio" "hiPrioSet" "licensesSpdx" "getLicenseFromSpdxId"
    "getLicenseFromSpdxIdOr" "getExe" "getExe'" "pathType" "pathIsDirectory"
    "pathIsRegularFile" "evalModules" "setDefaultModuleLocation" "pushDownProperties"
    "dischargeProperties" "filterOverrides" "sortProperties" "mkIf" "mkAssert" "mkMerge"
    "mkOverride" "mkOptionDefault" "mkDefault" "mkImageMediaOverride" "mkForce" "mkVMOverride"
    "mkFixStrictness" "mkOrder" "mkBefore" "mkAfter" "mkAliasDefinitions"
    "mkAliasAndWrapDefinitions" "mkRemovedOptionModule" "mkRenamedOptionModule"
    "mkRenamedOptionModuleWith" "mkMergedOptionModule" "mkChangedOptionModule"
    "mkAliasOptionModule" "mkDerivedConfig" "doRename" "mkAliasOptionModuleMD"
    "mergeDefinitions" "isOption" "mkEnableOption" "mkSinkUndeclaredOptions"
    "mergeDefaultOption" "mergeOneOption" "mergeEqualOption" "mergeUniqueOption" "getValues"
    "getFiles" "scrubOptionValue" "literalExpression" "literalExample" "showOption"
    "showOptionWithDefLocs" "showFiles" "unknownModule" "mkOption" "mkPackageOption"
    "mkPackageOptionMD" "literalMD" "isType" "setType" "isOptionType" "mkOptionType"
    "assertMsg" "assertOneOf" "traceIf" "traceVal" "traceValFn" "traceSeq" "traceSeqN"
    "traceValSeq" "traceValSeqFn" "traceValSeqN" "traceValSeqNFn" "traceFnSeqN" "runTests"
    "testAllTrue" "splitVersion" "trivial" "fixedPoints" "attrsets" "lists" "strings"
    "stringsWithDeps" "meta" "versions" "modules" "options" "types" "licenses" "cli"
    "generators" "asserts" "debug" "filesystem" "path"
  ];
  strings = missing lib.strings [
    "concatStrings" "concatMapStrings" "concatImapStrings" "concatMapAttrsStringSep"
    "intersperse" "concatStringsSep" "concatMapStringsSep" "concatImapStringsSep" "concatLines"
    "makeSearchPath" "makeSearchPathOutput" "makeLibraryPath" "makeIncludePath" "makeBinPath"
    "optionalString" "hasInfix" "hasPrefix" "hasSuffix" "stringToCharacters" "stringAsChars"
    "escape" "escapeC" "escapeURL" "escapeShellArg" "escapeShellArgs" "escapeRegex" "escapeXML"
    "escapeNixString" "escapeNixIdentifier" "replaceString" "replaceStrings" "replaceChars"
    "lowerChars" "upperChars" "toLower" "toUpper" "toCamelCase" "toSentenceCase"
    "addContextFrom" "splitString" "splitStringBy" "removePrefix" "removeSuffix" "versionOlder"
    "versionAtLeast" "getName" "getVersion" "nameFromURL" "enableFeature" "enableFeatureAs"
    "withFeature" "withFeatureAs" "fixedWidthString" "fixedWidthNumber" "floatToString"
    "isStorePath" "isStringLike" "isConvertibleWithToString" "isValidPosixName" "toShellVar"
    "toShellVars" "trim" "trimWith" "toInt" "toIntBase10" "readPathsFromFile" "fileContents"
    "cmakeOptionType" "cmakeBool" "cmakeFeature" "mesonOption" "mesonBool" "mesonEnable"
    "levenshtein" "levenshteinAtMost" "commonPrefixLength" "commonSuffixLength"
    "sanitizeDerivationName" "charToInt" "normalizePath" "replicate"
  ];
  lists = missing lib.lists [
    "singleton" "forEach" "foldr" "fold" "foldl" "foldl'" "imap0" "imap1" "ifilter0"
    "concatMap" "flatten" "remove" "findSingle" "findFirstIndex" "findFirst" "any" "all"
    "count" "optional" "optionals" "toList" "range" "replicate" "partition" "groupBy"
    "groupBy'" "zipListsWith" "zipLists" "reverseList" "listDfs" "toposort" "sort" "sortOn"
    "compareLists" "naturalSort" "take" "takeEnd" "drop" "dropEnd" "sublist" "commonPrefix"
    "hasPrefix" "removePrefix" "last" "init" "crossLists" "unique" "uniqueStrings" "allUnique"
    "intersectLists" "subtractLists" "mutuallyExclusive"
  ];
  attrsets = missing lib.attrsets [
    "attrByPath" "hasAttrByPath" "longestValidPathPrefix" "setAttrByPath" "getAttrFromPath"
    "concatMapAttrs" "updateManyAttrsByPath" "attrVals" "attrValues" "getAttrs" "catAttrs"
    "filterAttrs" "filterAttrsRecursive" "foldlAttrs" "foldAttrs" "collect" "cartesianProduct"
    "mapCartesianProduct" "nameValuePair" "mapAttrs" "mapAttrs'" "mapAttrsToList" "attrsToList"
    "mapAttrsRecursive" "mapAttrsRecursiveCond" "mapAttrsToListRecursive"
    "mapAttrsToListRecursiveCond" "genAttrs" "genAttrs'" "isDerivation" "toDerivation"
    "optionalAttrs" "zipAttrsWithNames" "zipAttrsWith" "zipAttrs" "mergeAttrsList"
    "recursiveUpdateUntil" "recursiveUpdate" "matchAttrs" "overrideExisting" "showAttrPath"
    "getOutput" "getFirstOutput" "getBin" "getLib" "getStatic" "getDev" "getInclude" "getMan"
    "chooseDevOutputs" "recurseIntoAttrs" "dontRecurseIntoAttrs" "unionOfDisjoint"
  ];
  trivial = missing lib.trivial [
    "id" "const" "pipe" "concat" "or" "and" "xor" "bitAnd" "bitOr" "bitXor" "bitNot"
    "boolToString" "boolToYesNo" "mergeAttrs" "flip" "defaultTo" "mapNullable" "version"
    "release" "oldestSupportedRelease" "oldestSupportedReleaseIsAtLeast" "codeName"
    "versionSuffix" "revisionWithDefault" "inNixShell" "inPureEvalMode" "min" "max" "mod"
    "compare" "splitByAndCompare" "importJSON" "importTOML" "warn" "warnIf" "warnIfNot"
    "throwIf" "throwIfNot" "checkListOfEnum" "info" "showWarnings" "setFunctionArgs"
    "functionArgs" "isFunction" "mirrorFunctionArgs" "toFunction" "fromHexString" "toHexString"
    "toBaseDigits"
  ];
  fixedPoints = missing lib.fixedPoints [
    "fix" "fix'" "converge" "extends" "composeExtensions" "composeManyExtensions"
    "makeExtensible" "makeExtensibleWithCustomName" "toExtension"
  ];
  generators = missing lib.generators [
    "mkValueStringDefault" "mkKeyValueDefault" "toKeyValue" "toINI" "toINIWithGlobalSection"
    "toGitINI" "withRecursion" "toPretty" "toPlist" "toDhall" "toLua" "mkLuaInline" "toJSON"
    "toYAML" "mkDconfKeyValue" "toDconfINI"
  ];
  versions = missing lib.versions [
    "splitVersion" "major" "minor" "patch" "majorMinor" "pad"
  ];
  cli = missing lib.cli [
    "toGNUCommandLineShell" "toGNUCommandLine" "toCommandLine" "toCommandLineShell"
    "toCommandLineGNU" "toCommandLineShellGNU"
  ];
  options = missing lib.options [
    "isOption" "mkOption" "mkEnableOption" "mkPackageOption" "mkPackageOptionMD"
    "mkSinkUndeclaredOptions" "mergeDefaultOption" "mergeOneOption" "mergeUniqueOption"
    "mergeEqualOption" "getValues" "getFiles" "scrubOptionValue" "literalExpression"
    "literalExample" "literalMD" "mdDoc" "showOption" "showOptionWithDefLocs" "showFiles"
    "unknownModule" "renderOptionValue" "optionAttrSetToDocList" "optionAttrSetToDocList'"
  ];
  modules = missing lib.modules [
    "evalModules" "setDefaultModuleLocation" "pushDownProperties" "dischargeProperties"
    "filterOverrides" "sortProperties" "mkIf" "mkAssert" "mkMerge" "mkOverride"
    "mkOptionDefault" "mkDefault" "mkImageMediaOverride" "mkForce" "mkVMOverride"
    "mkFixStrictness" "mkOrder" "mkBefore" "mkAfter" "mkAliasDefinitions"
    "mkAliasAndWrapDefinitions" "mkAliasAndWrapDefsWithPriority" "mkAliasIfDef"
    "mkRemovedOptionModule" "mkRenamedOptionModule" "mkRenamedOptionModuleWith"
    "mkMergedOptionModule" "mkChangedOptionModule" "mkAliasOptionModule"
    "mkAliasOptionModuleMD" "mkDerivedConfig" "doRename" "importApply" "importJSON"
    "importTOML" "defaultOrderPriority" "defaultOverridePriority" "defaultPriority"
    "mergeDefinitions"
  ];
  asserts = missing lib.asserts [
    "assertMsg" "assertOneOf" "assertEachOneOf"
  ];
  debug = missing lib.debug [
    "traceIf" "traceVal" "traceValFn" "traceSeq" "traceSeqN" "traceValSeq" "traceValSeqFn"
    "traceValSeqN" "traceValSeqNFn" "traceFnSeqN" "runTests" "testAllTrue"
  ];
  filesystem = missing lib.filesystem [
    "pathType" "pathIsDirectory" "pathIsRegularFile" "haskellPathsInDir" "locateDominatingFile"
    "listFilesRecursive" "resolveDefaultNix"
  ];
  path = missing lib.path [
    "append" "hasPrefix" "removePrefix" "splitRoot" "hasStorePathPrefix" "subpath"
  ];
  meta = missing lib.meta [
    "addMetaAttrs" "dontDistribute" "setName" "updateName" "appendToName"
    "mapDerivationAttrset" "setPrio" "lowPrio" "lowPrioSet" "hiPrio" "hiPrioSet"
    "platformMatch" "availableOn" "licensesSpdx" "getLicenseFromSpdxId"
    "getLicenseFromSpdxIdOr" "getExe" "getExe'"
  ];
  stringsWithDeps = missing lib.stringsWithDeps [
    "textClosureList" "textClosureMap" "noDepEntry" "fullDepEntry" "packEntry" "stringAfter"
  ];
  types = missing lib.types [
    "raw" "anything" "unspecified" "bool" "boolByOr" "int" "ints" "port" "float" "number"
    "numbers" "str" "nonEmptyStr" "singleLineStr" "strMatching" "separatedString" "lines"
    "commas" "envVar" "passwdEntry" "attrs" "package" "shellPackage" "pkgs" "path"
    "pathInStore" "pathWith" "listOf" "nonEmptyListOf" "attrsOf" "lazyAttrsOf" "attrsWith"
    "uniq" "unique" "nullOr" "functionTo" "submodule" "submoduleWith" "deferredModule"
    "deferredModuleWith" "optionType" "enum" "either" "oneOf" "coercedTo" "addCheck" "attrTag"
    "luaInline" "mkOptionType"
  ];
  gvariant = missing lib.gvariant [
    "type" "isGVariant" "mkValue" "mkArray" "mkEmptyArray" "mkVariant" "mkDictionaryEntry" "mkMaybe"
    "mkNothing" "mkJust" "mkTuple" "mkBoolean" "mkString" "mkObjectpath" "mkUchar" "mkInt16"
    "mkUint16" "mkInt32" "mkUint32" "mkInt64" "mkUint64" "mkDouble"
  ];
  misc = missing lib.misc [
    "maybeEnv" "defaultMergeArg" "defaultMerge" "maybeAttr" "maybeAttrNullable" "ifEnable" "uniqList"
    "uniqListExt" "condConcat" "lazyGenericClosure" "mapAttrsFlatten" "nvs" "setAttr" "setAttrMerge"
    "mergeAttrsWithFunc" "mergeAttrsConcatenateValues" "nixType" "imap" "fakeHash" "fakeSha256"
    "fakeSha512"
  ];
  network = missing lib.network.ipv6 [ "fromString" "isValidIpStr" "firstAddress" "lastAddress" "nextAddress" ];
  derivations = missing lib.derivations [ "lazyDerivation" "optionalDrvAttr" "warnOnInstantiate" ];
  sources = missing lib.sources [
    "pathType" "pathIsDirectory" "pathIsRegularFile" "cleanSourceFilter" "cleanSource" "cleanSourceWith"
    "sourceByRegex" "sourceFilesBySuffices" "pathHasContext" "canCleanSource" "pathIsGitRepo"
    "commitIdFromGitRepo"
  ];
  topMore = missing lib [
    "lazyDerivation" "optionalDrvAttr" "warnOnInstantiate" "gvariant" "derivations" "sources"
    "optionAttrSetToDocList" "optionAttrSetToDocList'"
    "cleanSourceFilter" "cleanSource" "cleanSourceWith" "sourceByRegex" "sourceFilesBySuffices"
    "pathHasContext" "canCleanSource" "pathIsGitRepo" "commitIdFromGitRepo"
  ];
}
