/* WS2tcpip.h: the spelling Windows code writes; Linux file names are case-sensitive (docs/porting.md). */
#include "ws2tcpip.h"
