#!/usr/bin/env node
/** gre-keepalive: the passive GRE keepalive reflector. */
import { notYet } from './not-yet.ts';

notYet('gre-keepalive', 'GRE keepalive reflector commands (run, attach, detach, status, explain)');
