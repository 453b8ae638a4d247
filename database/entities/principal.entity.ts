import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type Role = 'pipeline' | 'approver' | 'admin';
export const ROLES: readonly Role[] = ['pipeline', 'approver', 'admin'];

/** A scope limits a pipeline to services and environments (globs). */
export interface Scope {
  service: string;
  environment: string;
}

@Entity('principals')
export class PrincipalEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'display_name', type: 'text' })
  displayName!: string;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  emails!: string[];

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  logins!: string[];

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  subjects!: string[];

  /** Slack user ids (`U0123ABCD`): who a click in Slack comes from (api/integrations). */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  slack!: string[];

  /** Canonical typed identity keys (policy/identity.ts), indexed for author resolution. */
  @Column({ name: 'identity_keys', type: 'text', array: true, default: () => "'{}'" })
  identityKeys!: string[];

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  roles!: Role[];

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  groups!: string[];

  @Column({ type: 'jsonb', default: () => "'[]'" })
  scopes!: Scope[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
