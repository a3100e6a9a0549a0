# regenerate.sh sets STRATA_TEST_VAR=strata-test-value; the other variable is unset.
[ (builtins.getEnv "STRATA_TEST_VAR") (builtins.getEnv "STRATA_SURELY_UNSET_VARIABLE") (builtins.getEnv "") ]
