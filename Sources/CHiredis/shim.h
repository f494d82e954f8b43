// hiredis 0.14 (Debian's libhiredis-dev): only its RESP2 command formatter and reply reader are used;
// SwiftNIO owns the sockets.
#include <hiredis/hiredis.h>
