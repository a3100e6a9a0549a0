# NIX_PATH=fromenv=$CORPUS/search/fromenv is set by regenerate.sh
import <fromenv>
