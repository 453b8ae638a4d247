import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A bearer token. Only the SHA-256 of the secret is kept; the secret is shown once. */
@Entity('tokens')
export class TokenEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'principal_id', type: 'text' })
  principalId!: string;

  @Column({ name: 'secret_hash', type: 'text', unique: true })
  secretHash!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;
}
