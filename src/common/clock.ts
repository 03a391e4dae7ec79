import { Injectable } from '@nestjs/common';

/** The time source of everything scheduled or time-dependent; tests replace it. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
