import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { PrincipalEntity } from './principal.entity';

/** A bearer token. Only the SHA-256 of the secret is kept; the secret is shown once. */
@Entity('tokens')
export class TokenEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'principal_id', type: 'text' })
  principalId!: string;

  /** Loaded with the token when it authenticates (one query, a join). */
  @ManyToOne(() => PrincipalEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'principal_id' })
  principal?: PrincipalEntity;

  @Column({ name: 'secret_hash', type: 'text', unique: true })
  secretHash!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** When the token last authenticated a request, to the minute (api/auth/auth.service.ts). */
  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;
}
