#!/usr/bin/env node
/** eoip: manage EoIP/EoIPv6 tunnels (the command line users of the eoip kernel tool know). */
import { notYet } from './not-yet.ts';

notYet('eoip', 'EoIP tunnel commands (add, change, del, list)');
